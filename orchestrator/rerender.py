"""Open a finished (or interrupted) run directory for its results: the one code path behind
`bench report RUN_DIR`, `bench.load()` and `Run.render()`.

    open_run_dir(path)     the run directory, checked: BenchError (exit 2) naming the path when it
                           is missing, holds no specs/, or has a run.json that cannot be read
    rerender(path, ...)    open_run_dir, then render_run: metrics, tables, plots, report.html;
                           a file it cannot write is BenchError (exit 1) naming it

Bad files *inside* a run directory (a truncated report, an invalid spec) are never errors here:
the results show them as `crashed` rows (orchestrator/results/tidy.py). A damaged run.json is
refused instead, because the verdicts' margin and contaminated-job policy come from it: tables
rendered without it would silently differ from the run's own.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import BenchError
from orchestrator.results import Rendered, render_run
from orchestrator.rundir import RunDir, RunDirError


def open_run_dir(path: Path) -> RunDir:
    """The run directory at `path`, or BenchError (exit 2) in one line naming it; reads only.

    Example:
        >>> open_run_dir(Path("results/example")).root
        PosixPath('results/example')
    """
    run = RunDir(Path(path))
    if not run.specs_dir.is_dir():
        raise BenchError(f"{run.root} is not a run directory (no specs/ inside)", 2)
    if run.meta_path.exists():
        try:
            run.meta()
        except RunDirError as exc:
            raise BenchError(str(exc), 2) from None
        except OSError as exc:
            raise BenchError(f"{run.meta_path} is unreadable ({exc.strerror or exc})", 2) from None
    return run


def rerender(
    path: Path, keep_contaminated: bool | None = None, margin: float | None = None, plots: bool = True
) -> Rendered:
    """Rebuild metrics.csv, tables, plots and report.html from the stored specs and reports.
    `keep_contaminated`, `margin`: as `render_run`, defaulting to what the run recorded.

    Example:
        >>> rerender(Path("results/example")).summary
        '20 jobs: 20 ok; classification: time inconclusive (~6 repeats), ...'
    """
    run = open_run_dir(path)
    try:
        return render_run(run.root, margin=margin, plots=plots, keep_contaminated=keep_contaminated)
    except OSError as exc:  # an unwritable or full run directory: one line naming the file
        raise BenchError(f"{exc.strerror or exc}: {exc.filename or run.root}", 1) from None
