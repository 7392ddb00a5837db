"""The paper's figures, with repeats: per task, epochs vs cumulative training time, vs training
metric and vs validation metric; one line per arm (framework x compile mode: 'pytorch', 'pytorch+jit';
median over ok repeats) and a min–max band.

`figure()` draws the panels (the Python API's `Run.plot` shows it as is); `render_plots` saves one
task's figure per file. matplotlib is imported inside functions (importing this module stays cheap)
and figures are drawn on `Figure` + the Agg canvas directly, never through pyplot's global state. SVG output uses a fixed
hash salt and no date; PNG carries no date either, so files only change when the data does.
"""

from __future__ import annotations

import io
import math
import re
import zlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from schemas.common import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# (file suffix, column, y label template, title part)
FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("time", "cumulative_seconds", "cumulative training time (s)", "training time"),
    ("train_metric", "train_metric", "training {metric_label}", "training {metric}"),
    ("val_metric", "val_metric", "validation {metric_label}", "validation {metric}"),
    # autoencoder tasks only: drawn where the jobs report it
    ("val_ari", "val_ari", "ARI of k-means on the validation codes", "clustering of the codes (ARI)"),
)
METRIC_LABELS = {
    "accuracy": "accuracy (fraction correct)",
    "mse": "MSE (standardized target units²)",
}
METRIC_NAMES = {"accuracy": "accuracy", "mse": "MSE"}
# Fixed colours per arm label so an arm looks the same in every figure, run and history plot, whatever
# other arms it is drawn with; a framework's jit arm gets a neighbouring hue.
COLOURS = {
    "pytorch": "#d62728", "tensorflow": "#1f77b4", "fake": "#7f7f7f",
    "pytorch+jit": "#ff7f0e", "tensorflow+jit": "#17becf", "fake+jit": "#2f2f2f",
}  # fmt: skip
# Distinct dashes and markers too, so identical curves (a fair run's epoch-1 values) stay visible.
STYLES = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"))
FALLBACK_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")


@dataclass(frozen=True)
class Curve:
    arm: str
    epochs: list[int]
    median: list[float]
    low: list[float]
    high: list[float]
    n_repeats: int


def curves(metrics: pd.DataFrame, task: str, column: str) -> list[Curve]:
    """Per arm: median, min and max of `column` over ok repeats at each epoch."""
    rows = metrics[(metrics["task"] == task) & (metrics["status"] == "ok")]
    rows = rows.dropna(subset=["epoch", column])
    by = "arm" if "arm" in rows else "framework"  # a frame from before arms: one per framework
    out = []
    for fw in sorted(str(f) for f in rows[by].dropna().unique()):
        sub = rows[rows[by] == fw]
        agg = sub.groupby("epoch", sort=True)[column].agg(["median", "min", "max"])
        out.append(
            Curve(
                arm=fw,
                epochs=[int(e) for e in agg.index],
                median=[float(v) for v in agg["median"]],
                low=[float(v) for v in agg["min"]],
                high=[float(v) for v in agg["max"]],
                n_repeats=int(sub["spec_id"].nunique()),
            )
        )
    return out


def _minor_label(value: float, show: bool) -> str:
    """Label minor log ticks at 2x, 3x and 5x a power of ten, and only on a short axis."""
    if not show or value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2, 3, 5)) else ""


def arm_colour(arm: str) -> str:
    """The arm's fixed colour; an arm not in COLOURS gets one by a hash of its label (the same in
    every run, unlike a position in the legend)."""
    return COLOURS.get(arm) or FALLBACK_COLOURS[zlib.crc32(arm.encode()) % len(FALLBACK_COLOURS)]


PANEL_SIZE = (7.0, 4.2)  # inches, one task's panel
WHICH = tuple(name for name, _, _, _ in FIGURES)


def _style() -> AbstractContextManager[None]:
    """The settings a figure is drawn and saved under. The font size is read when the texts are
    made and the SVG settings when a figure is saved, so both steps run under it. Fixed salt: SVG
    element ids are otherwise random per process."""
    import matplotlib

    return matplotlib.rc_context({"svg.hashsalt": "bench", "svg.fonttype": "path", "font.size": 10.0})


def _draw_panel(ax: Axes, task: str, dataset: str, metric: str, which: str, metrics: pd.DataFrame) -> None:
    """One task's epochs vs `which` on `ax`: a median line and a min–max band per arm."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    spec = {name: (col, ylabel, title) for name, col, ylabel, title in FIGURES}
    column, ylabel, title = spec[which]
    fmt_args = {
        "metric": METRIC_NAMES.get(metric, metric),
        "metric_label": METRIC_LABELS.get(metric, metric),
    }
    data = curves(metrics, task, column)
    for i, c in enumerate(data):
        colour = arm_colour(c.arm)
        label = f"{c.arm} (median of {c.n_repeats}, band min–max)"
        ax.fill_between(c.epochs, c.low, c.high, color=colour, alpha=0.2, linewidth=0)
        dash, marker = STYLES[i % len(STYLES)]
        ax.plot(
            c.epochs, c.median, color=colour, linestyle=dash, marker=marker, markersize=3.5,
            markerfacecolor="none" if i % 2 else colour, label=label,
        )  # fmt: skip
    if not data:
        ax.text(0.5, 0.5, "no ok runs", ha="center", va="center", transform=ax.transAxes)
    elif metric == "mse" and which != "time" and min(min(c.low) for c in data) > 0:
        # Losses fall by orders of magnitude; a log axis keeps late epochs readable.
        ax.set_yscale("log")
        # Plain numbers (0.3, 0.4) read better than 3x10^-1 on a short axis.
        lo = min(min(c.low) for c in data)
        hi = max(max(c.high) for c in data)
        few_decades = hi / lo < 100
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: _minor_label(v, few_decades)))
    if which == "time":
        ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel.format(**fmt_args))
    ax.set_title(f"{task} on {dataset}: epochs vs {title.format(**fmt_args)}")
    ax.grid(True, alpha=0.3)
    if data:
        ax.legend(loc="best", fontsize=8)


def tasks_in(metrics: pd.DataFrame) -> list[str]:
    return sorted(str(t) for t in metrics["task"].dropna().unique())


def figure(
    metrics: pd.DataFrame,
    which: str,
    tasks: Sequence[str] | None = None,
    figure_class: type[Figure] | None = None,
) -> Figure:
    """Epochs vs `which` ("time", "train_metric" or "val_metric"), one panel per task in `tasks`
    (default: every task), stacked; the Agg canvas is attached, no pyplot state is touched.
    `figure_class`: a Figure subclass to make (as pyplot's FigureClass). ValueError for an
    unknown `which`.

    Example:
        >>> figure(metrics, "time", ["regression"]).savefig("regression_time.png")
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if which not in WHICH:
        raise ValueError(f"unknown figure {which!r}; one of {', '.join(WHICH)}")
    chosen = tasks_in(metrics) if tasks is None else list(tasks)
    with _style():
        size = (PANEL_SIZE[0], PANEL_SIZE[1] * max(1, len(chosen)))
        fig = (figure_class or Figure)(figsize=size, dpi=100)
        FigureCanvasAgg(fig)
        for i, task in enumerate(chosen):
            dataset, metric = _labels(metrics, task)
            _draw_panel(fig.add_subplot(len(chosen), 1, i + 1), task, dataset, metric, which, metrics)
        fig.tight_layout()
    return fig


def draw(task: str, which: str, metrics: pd.DataFrame) -> tuple[bytes, bytes]:
    """Render one task's figure; returns (png bytes, svg bytes), dated nowhere."""
    fig = figure(metrics, which, [task])
    png, svg = io.BytesIO(), io.BytesIO()
    with _style():
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png.getvalue(), svg.getvalue()


def _labels(metrics: pd.DataFrame, task: str) -> tuple[str, str]:
    rows = metrics[metrics["task"] == task]
    datasets = sorted(str(d) for d in rows["dataset"].dropna().unique())
    found = sorted(str(m) for m in rows["metric"].dropna().unique())
    return ", ".join(datasets) or "unknown dataset", found[0] if found else "metric"


@dataclass(frozen=True)
class Plot:
    task: str
    which: str  # "time", "train_metric" or "val_metric"
    title: str
    png: bytes
    paths: tuple[Path, ...]


def _safe(name: str) -> str:
    # Task names come from validated specs, but a file name is no place to trust that.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "task"


def render_plots(metrics: pd.DataFrame, out_dir: Path) -> list[Plot]:
    """Write plots/<task>_<what>.png|svg for every task; the PNG bytes come back for embedding."""
    result: list[Plot] = []
    for task in tasks_in(metrics):
        dataset, metric = _labels(metrics, task)
        for which, column, _, title in FIGURES:
            if column == "val_ari" and not bool(metrics.loc[metrics["task"] == task, column].notna().any()):
                continue
            png, svg = draw(task, which, metrics)
            stem = _safe(f"{task}_{which}")
            paths = (
                write_bytes_atomic(out_dir / f"{stem}.png", png),
                write_bytes_atomic(out_dir / f"{stem}.svg", svg),
            )
            name = METRIC_NAMES.get(metric, metric)
            label = f"{task} on {dataset}: epochs vs {title.format(metric=name)}"
            result.append(Plot(task, which, label, png, paths))
    return result
