"""What `bench history` shows: each criterion over runs, per hardware class, suite, task and arm.

Input is `orchestrator.history.trend` (one row per hardware class x suite x task x criterion x arm
x run). A hardware class is never pooled with another: it gets its own table and, in the figure,
its own line per arm (colour = arm, dash and marker = hardware class).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from orchestrator.results._format import Table, fmt_csv, fmt_spread
from orchestrator.results.plots import STYLES, arm_colour
from orchestrator.results.tables import CRITERIA

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# How each criterion is named in the history; a criterion added to tables.CRITERIA shows by its name.
LABELS = {
    "time": "total train time (s)",
    "epoch time": "steady-state epoch (s)",
    "quality": "final val {metric}",
    "clustering": "final val ARI (k-means on codes)",
}
GROUP_KEYS = ["hardware", "suite", "task"]


def criteria_of(frame: pd.DataFrame) -> list[str]:
    """The criteria present, in the winner table's order, then any others by name."""
    present = {str(c) for c in frame["criterion"].unique()}
    known = [name for name, _ in CRITERIA if name in present]
    return known + sorted(present - set(known))


def criterion_label(criterion: str, metric: str) -> str:
    return LABELS.get(criterion, criterion).format(metric=metric)


def _date(text: str) -> str:
    """'2026-11-27 07:49' from an ISO timestamp (the text itself if it does not parse)."""
    stamp = pd.to_datetime(text, utc=True, errors="coerce")
    return text if pd.isna(stamp) else str(stamp.strftime("%Y-%m-%d %H:%M"))


def trend_tables(frame: pd.DataFrame) -> list[Table]:
    """One table per hardware class x suite x task: a row per arm and run (date order), a column
    per criterion with the run's median (min–max) over its ok jobs."""
    tables = []
    for (hardware, suite, task), group in frame.groupby(GROUP_KEYS, sort=True):
        metric = str(group["metric"].dropna().iloc[0]) if group["metric"].notna().any() else "metric"
        criteria = criteria_of(group)
        headers = ("date", "run", "arm", "version", "machine", "jobs",
                   *(f"{criterion_label(c, metric)}, {_better(group, c)} is better" for c in criteria))  # fmt: skip
        csv_headers = ("date", "run", "run_id", "arm", "version", "machine", "jobs",
                       *(f"{c}_{stat}" for c in criteria for stat in ("median", "min", "max")))  # fmt: skip
        rows, csv_rows = [], []
        runs = group.drop_duplicates(["arm", "run_id"]).sort_values(["arm", "run_date", "run_id"])
        for run in runs.itertuples(index=False):
            cells = group[(group["arm"] == run.arm) & (group["run_id"] == run.run_id)]
            by = {str(r.criterion): r for r in cells.itertuples(index=False)}
            head = [_date(str(run.run_date)), str(run.run_name), str(run.arm), str(run.versions) or "—",
                    str(run.machine), str(int(cells["n"].max()))]  # fmt: skip
            rows.append(tuple(head + [
                fmt_spread(by[c].median, by[c].low, by[c].high, int(by[c].n)) if c in by else "—"
                for c in criteria
            ]))  # fmt: skip
            raw = [str(run.run_date), str(run.run_name), str(run.run_id), *head[2:]]
            for c in criteria:
                raw += [fmt_csv(getattr(by[c], s)) if c in by else "" for s in ("median", "low", "high")]
            csv_rows.append(tuple(raw))
        tables.append(
            Table(
                name=f"history_{task}",
                title=f"{task} · suite {suite} · hardware {hardware}",
                caption="Per run: median (min–max) over its ok repeats; only this hardware class.",
                headers=headers,
                rows=tuple(rows),
                csv_headers=csv_headers,
                csv_rows=tuple(csv_rows),
            )
        )
    return tables


def _better(group: pd.DataFrame, criterion: str) -> str:
    return str(group.loc[group["criterion"] == criterion, "better"].iloc[0])


@dataclass(frozen=True)
class Series:
    """One line of the figure: one arm on one hardware class, over runs."""

    suite: str
    task: str
    criterion: str
    arm: str
    hardware: str
    dates: list[pd.Timestamp]
    median: list[float]
    low: list[float]
    high: list[float]

    @property
    def label(self) -> str:
        return f"{self.arm} · {self.hardware}"


def trend_series(frame: pd.DataFrame) -> list[Series]:
    """Every (suite, task, criterion, arm, hardware class) line, points in date order; runs whose
    date does not parse are left out of the figure (the table still lists them)."""
    dated = frame.assign(stamp=pd.to_datetime(frame["run_date"], utc=True, errors="coerce"))
    dated = dated.dropna(subset=["stamp"]).sort_values(["stamp", "run_id"])
    out = []
    keys = ["suite", "task", "criterion", "arm", "hardware"]
    for (suite, task, criterion, arm, hardware), rows in dated.groupby(keys, sort=True):
        out.append(Series(str(suite), str(task), str(criterion), str(arm), str(hardware),
                          list(rows["stamp"]), [float(v) for v in rows["median"]],
                          [float(v) for v in rows["low"]], [float(v) for v in rows["high"]]))  # fmt: skip
    return out


def draw_trend(frame: pd.DataFrame) -> Figure:
    """A matplotlib Figure: a panel per suite x task (rows) and criterion (columns), one line per arm
    and hardware class with the min–max band over each run's repeats."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = trend_series(frame)
    panels = sorted({(s.suite, s.task) for s in series})
    criteria = criteria_of(frame) if not frame.empty else []
    classes = sorted({s.hardware for s in series})
    fig = Figure(figsize=(4.6 * max(1, len(criteria)), 3.4 * max(1, len(panels))), dpi=100)
    FigureCanvasAgg(fig)
    if not series:
        fig.add_subplot().text(0.5, 0.5, "no runs in the history", ha="center", va="center")
        return fig
    axes = fig.subplots(len(panels), len(criteria), squeeze=False)
    for (row, (suite, task)), (col, criterion) in (
        (p, c) for p in enumerate(panels) for c in enumerate(criteria)
    ):
        ax = axes[row][col]
        cells = frame[(frame["suite"] == suite) & (frame["task"] == task) & (frame["criterion"] == criterion)]
        metric = str(cells["metric"].dropna().iloc[0]) if cells["metric"].notna().any() else "metric"
        for s in series:
            if (s.suite, s.task, s.criterion) != (suite, task, criterion):
                continue
            colour = arm_colour(s.arm)
            dash, marker = STYLES[classes.index(s.hardware) % len(STYLES)]
            ax.fill_between(s.dates, s.low, s.high, color=colour, alpha=0.15, linewidth=0)
            ax.plot(
                s.dates, s.median, color=colour, linestyle=dash, marker=marker, markersize=4, label=s.label
            )
        ax.set_title(f"{task} ({suite}): {criterion_label(criterion, metric)}", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def write_trend_plot(frame: pd.DataFrame, kind: str) -> bytes:
    """The figure as PNG or SVG bytes (`kind`: "png" | "svg"); no dates embedded, so reruns match."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "bench", "svg.fonttype": "path", "font.size": 9.0}):
        fig = draw_trend(frame)
        buffer = io.BytesIO()
        metadata = {"Software": None} if kind == "png" else {"Date": None, "Creator": None}
        fig.savefig(buffer, format=kind, metadata=metadata)
    return buffer.getvalue()


def summary(frame: pd.DataFrame) -> str:
    """'3 runs, 2 hardware classes (AMD EPYC x2 | Intel Xeon x2)'."""
    classes = sorted({str(h) for h in frame["hardware"].unique()})
    runs = frame["run_id"].nunique()
    return (f"{runs} run{'s' if runs != 1 else ''}, {len(classes)} hardware "
            f"class{'es' if len(classes) != 1 else ''} ({' | '.join(classes)})")  # fmt: skip
