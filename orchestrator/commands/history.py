"""`bench history`: every finished run's criteria over time; `bench history add RUN_DIR` adds old runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator import history
from orchestrator.results import trend
from schemas.common import write_bytes_atomic

app = typer.Typer(
    help="The results history: each criterion over runs, per hardware class (never pooled).",
    invoke_without_command=True,
)

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", help="the history directory (default: $BENCH_HISTORY_DIR, else ~/.cache/bench/history)"
    ),
]
PLOT_KINDS = (".png", ".svg")


def _console() -> Console:
    # soft_wrap: a table row or an error is one line whatever the terminal's width (CI logs, grep).
    return Console(highlight=False, soft_wrap=True)


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(2)


@app.callback()
def show(
    ctx: typer.Context,
    suite: Annotated[
        str | None, typer.Option("--suite", help="only this suite (its name in run.json)")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="only this task")] = None,
    arm: Annotated[
        str | None, typer.Option("--arm", help="only this arm: a framework, or one with its compile mode (pytorch+jit)")
    ] = None,
    store: StoreOption = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="also draw the trend into FILE (.png or .svg)")
    ] = None,
) -> None:
    """Print each criterion (steady-state epoch, total time, final validation metric) per run, one
    table per hardware class, suite and task; --plot draws one line per arm and hardware class.

    Example: bench history --suite paper --task classification --plot history.png
    """
    if ctx.invoked_subcommand is not None:
        return
    console = _console()
    if plot is not None and plot.suffix.lower() not in PLOT_KINDS:
        raise _fail(console, f"--plot {plot}: the file name must end in .png or .svg")
    root = history.store_dir(store)
    if root.exists() and not root.is_dir():
        raise _fail(console, f"--store {root}: not a directory")
    found = history.read_store(root)
    for problem in found.problems:
        console.print(f"[yellow]warning:[/] {escape(problem)}")
    frame = history.trend(found, suite, task, arm)
    if frame.empty:
        filters = ", ".join(f"{k} {v}" for k, v in (("suite", suite), ("task", task), ("arm", arm)) if v)
        console.print(f"no runs in the history at {root}" + (f" for {filters}" if filters else ""))
        return
    console.print(f"history at {root}: {trend.summary(frame)}")
    for table in trend.trend_tables(frame):
        console.print(table.markdown(), markup=False)
    if plot is not None:
        try:
            write_bytes_atomic(plot, trend.write_trend_plot(frame, plot.suffix.lower().lstrip(".")))
        except OSError as exc:
            raise _fail(console, f"--plot {plot}: cannot write ({exc.strerror})") from None
        console.print(f"wrote {plot}")


@app.command("add")
def add(
    run_dirs: Annotated[list[Path], typer.Argument(help="run directories written by `bench orchestrate`")],
    store: StoreOption = None,
) -> None:
    """Add finished runs to the history (again: replaces their files, never duplicates).

    Example: bench history add results/paper-*
    """
    console = _console()
    root = history.store_dir(store)
    # Every run is read and checked before anything is written: a bad one leaves the store as it was.
    try:
        runs = [(run_dir, history.run_rows(run_dir)) for run_dir in run_dirs]
    except history.HistoryError as exc:
        raise _fail(console, str(exc)) from None
    for run_dir, rows in runs:
        try:
            written = history.write_rows(rows, root)
        except OSError as exc:
            raise _fail(console, f"{exc.filename or root}: cannot write ({exc.strerror})") from None
        console.print(f"added {run_dir}: {', '.join(str(p) for p in written)}")
