"""`bench.load()` and the `Run` it returns: one run directory's results as pandas tables and
matplotlib figures, computed by the same functions `bench report` writes its files with."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from orchestrator.errors import BenchError
from orchestrator.rerender import open_run_dir, rerender
from orchestrator.results import Judged, judge
from orchestrator.results._format import Table
from orchestrator.results.breakdown import wall_breakdown
from orchestrator.results.parity import ParityRow
from orchestrator.results.plots import WHICH, figure, tasks_in
from orchestrator.results.stats import Verdict
from orchestrator.results.tables import WinnerRow
from orchestrator.results.tidy import RunData, load_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# One column per WinnerRow field (task, criterion, measure, better, note, ...) and per Verdict
# field (medians, ratio, interval, p-value, outcome, ...): the winner table's facts, typed.
ROW_COLUMNS = tuple(f.name for f in dataclasses.fields(WinnerRow) if f.name != "verdict")
VERDICT_COLUMNS = tuple(f.name for f in dataclasses.fields(Verdict))
PARITY_COLUMNS = tuple(f.name for f in dataclasses.fields(ParityRow))


class Run:
    """The results of one run directory, read on first use and kept (bench.load again to see
    reports written since).

    `metrics`, `verdicts` and `parity` are pandas DataFrames; `tables` the rendered tables, the
    same text `bench report` writes to tables/*.md and *.csv; `plot()` a matplotlib Figure.
    `keep_contaminated` and `margin` default to what the run recorded in run.json, as in `bench report`.

    Example:
        >>> run = bench.load("results/example")
        >>> run.verdicts[["task", "criterion", "outcome", "winner"]]
    """

    def __init__(
        self, run_dir: Path | str, keep_contaminated: bool | None = None, margin: float | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self._keep_asked = keep_contaminated
        self._margin_asked = margin

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}): {self.summary}"

    @cached_property
    def _data(self) -> RunData:
        return load_run(self.run_dir)

    @cached_property
    def _judged(self) -> Judged:  # the same verdicts render_run writes (orchestrator/results)
        return judge(self._data, self._margin_asked, self._keep_asked)

    @property
    def keep_contaminated(self) -> bool:
        """Whether jobs timed on a busy machine count in the medians and verdicts."""
        return self._judged.keep_contaminated

    @property
    def margin(self) -> float:
        """The verdicts' equivalence margin m (0.05 = ±5%)."""
        return self._judged.margin

    @property
    def _metrics(self) -> pd.DataFrame:
        return self._judged.metrics

    @property
    def metrics(self) -> pd.DataFrame:
        """The tidy table, one row per job x epoch: metrics.csv's columns (a copy: yours to change).

        Example:
            >>> run.metrics.groupby("framework")["train_seconds"].median()
        """
        return self._metrics.copy()

    @property
    def verdict_rows(self) -> list[WinnerRow]:
        """The winner table's rows as objects: per task x criterion x pair of arms (with more than
        two arms: per arm, ranked, against the baseline), a `stats.Verdict` (None, with a `note`,
        where no verdict can be given, and on the baseline's own row)."""
        return list(self._judged.rows)

    @property
    def verdicts(self) -> pd.DataFrame:
        """The winner table as a DataFrame: task, criterion, measure, better, note (why there is no
        verdict), then every Verdict field (name_a, name_b, medians, ratio, ci_lo/ci_hi, p_value,
        outcome, winner, advantage, text, ...); a row without a verdict has them empty.

        Example:
            >>> run.verdicts.query("criterion == 'time'")[["task", "ratio", "text"]]
        """
        records = [
            {
                **{name: getattr(row, name) for name in ROW_COLUMNS},
                **(dataclasses.asdict(row.verdict) if row.verdict is not None else {}),
            }
            for row in self._judged.rows
        ]
        return pd.DataFrame.from_records(records, columns=[*ROW_COLUMNS, *VERDICT_COLUMNS])

    @property
    def parity_rows(self) -> list[ParityRow]:
        """The parity check's rows as objects (fairness rule 8: paired jobs started alike)."""
        return list(self._judged.parity_rows)

    @property
    def parity(self) -> pd.DataFrame:
        """The parity check as a DataFrame, one row per pair of jobs (same task, seed and repeat);
        `check` is "pass", "drift: ...", "FAIL: ..." or "n/a: ...".

        Example:
            >>> run.parity[run.parity["check"].str.startswith("FAIL")]
        """
        records = [dataclasses.asdict(row) for row in self.parity_rows]
        return pd.DataFrame.from_records(records, columns=list(PARITY_COLUMNS))

    @property
    def tables(self) -> dict[str, Table]:
        """Every table by file stem (results_<task>, winner, parity, wall_time: each job's seconds by
        part): `.markdown()` and `.csv()` give the bytes `bench report` writes to tables/<name>.md and .csv.

        Example:
            >>> print(run.tables["winner"].markdown())
        """
        tables = [*self._judged.tables, self._judged.parity, wall_breakdown(self._data, self.run_dir).table()]
        return {table.name: table for table in tables}

    @property
    def summary(self) -> str:
        """The one-line summary `bench orchestrate` ends with: job counts, then each verdict."""
        return self._judged.summary

    @property
    def ok(self) -> bool:
        """Every planned job ended ok (what `bench orchestrate` reports as exit code 0)."""
        return bool(self._data.jobs) and all(job.ok for job in self._data.jobs)

    @property
    def report_path(self) -> Path:
        """report.html in the run directory (written by bench.run, or by `render()`)."""
        return self.run_dir / "report.html"

    def plot(self, criterion: str, task: str | None = None) -> Figure:
        """Epochs vs `criterion` ("time", "train_metric" or "val_metric"): the figure of
        plots/<task>_<criterion>.png, for `task`, or for every task (one panel each) by default.

        Example:
            >>> run.plot("val_metric", task="regression").savefig("regression.png")
        """
        if criterion not in WHICH:
            raise BenchError(f"unknown plot {criterion!r}; one of {', '.join(WHICH)}", 2)
        known = tasks_in(self._metrics)
        if task is not None and task not in known:
            raise BenchError(f"{self.run_dir} has no task {task!r}; it has {', '.join(known) or 'none'}", 2)
        from bench.figure import NotebookFigure  # matplotlib only when a figure is asked for

        return figure(self._metrics, criterion, None if task is None else [task], NotebookFigure)

    def render(self, plots: bool = True) -> list[Path]:
        """Write metrics.csv, tables, plots (unless `plots=False`) and report.html into the run
        directory, as `bench report RUN_DIR` does; returns the paths written.

        Example:
            >>> bench.load("results/example").render(plots=False)
        """
        rendered = rerender(self.run_dir, self._keep_asked, self._margin_asked, plots)
        return list(rendered.paths)


def load(run_dir: Path | str, *, keep_contaminated: bool | None = None, margin: float | None = None) -> Run:
    """Open a run directory written by `bench orchestrate` or `bench.run()`; reads, never writes.
    BenchError (exit_code 2) in one line naming the path when it is missing, holds no specs/, or
    its run.json is damaged.

    Example:
        >>> run = bench.load("results/example")
        >>> run.summary
        '20 jobs: 20 ok; classification: time inconclusive (~6 repeats), ...'
    """
    return Run(open_run_dir(Path(run_dir)).root, keep_contaminated, margin)
