"""Results of a run: tidy metrics, tables, winner verdicts, parity evidence, plots, report.html.

    render_run(run_dir)  -> writes everything below into run_dir; returns the paths written and the
                            one-line summary for the terminal (every verdict computed once)

    run_dir/metrics.csv, metrics.parquet   one row per job x epoch (tidy.metrics_frame)
    run_dir/tables/*.md, *.csv             results_<task>, winner, parity (compile: runs with jit arms)
    run_dir/plots/<task>_<what>.png, .svg  what = time, train_metric, val_metric
    run_dir/report.html                    self-contained page

Every file is written atomically. metrics.csv and the tables are byte-for-byte reproducible.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestrator.results import stats
from orchestrator.results._format import Table
from orchestrator.results.breakdown import wall_breakdown, write_breakdown
from orchestrator.results.compile_time import compile_tables
from orchestrator.results.html import render_html
from orchestrator.results.parity import ParityRow, parity_rows, parity_table
from orchestrator.results.plots import render_plots
from orchestrator.results.tables import WinnerRow, build_tables
from orchestrator.results.tidy import (
    RunData,
    contaminated_jobs,
    final_frame,
    load_run,
    metrics_frame,
    write_metrics,
)
from schemas.common import write_text_atomic

__all__ = ["Judged", "Rendered", "judge", "load_run", "metrics_frame", "recorded_margin", "render_run", "summary_line"]


@dataclass(frozen=True)
class Rendered:
    paths: list[Path]  # every file written
    summary: str  # '12 jobs: 11 ok, 1 crashed; classification: time pytorch faster by 41%, ...'
    wall_time: str = ""  # 'wall 688 s: timed training 74%, evaluation 9.1%, ...' (results/breakdown.py)
    wall_json: dict[str, object] = field(default_factory=dict)  # the same, summed and per job (run.json)

    @property
    def report(self) -> Path:
        return next(p for p in self.paths if p.name == "report.html")


def _status_counts(run: RunData, keep_contaminated: bool) -> str:
    counts = Counter(job.status for job in run.jobs)
    order = ["ok", *sorted(s for s in counts if s != "ok")]
    parts = [f"{counts[s]} {s}" for s in order if counts[s]]
    dirty = len(contaminated_jobs(run))
    if dirty and parts and parts[0].endswith(" ok"):
        parts[0] += (
            f" ({dirty} contaminated, {'kept in' if keep_contaminated else 'left out of'} the verdicts)"
        )
    return f"{len(run.jobs)} jobs: " + (", ".join(parts) if parts else "none")


def _verdict_phrase(row: WinnerRow) -> str:
    """'time pytorch faster by 43%', 'quality equivalent (±5%)', 'time inconclusive (~12 repeats)'."""
    v = row.verdict
    if v is None:
        return f"{row.criterion} n/a ({row.note})"
    if v.outcome == "better" and v.winner is not None:
        return f"{row.criterion} {stats.advantage_text(v.winner, v.adjective, v.advantage)}"
    if v.outcome == "equivalent":
        return f"{row.criterion} equivalent (±{v.margin * 100:.3g}%)"
    if v.outcome == "inconclusive":
        more = stats.repeats_text(v.repeats).replace("about ", "~")
        return f"{row.criterion} inconclusive ({more} repeats)"
    return f"{row.criterion} {v.text}"


def _family_phrase(criterion: str, rows: list[WinnerRow]) -> str:
    """More than two arms, one criterion: the best arm, what was decided against the baseline (arms
    named) and how many are still open -- one phrase, not one per arm: 'time: best jax+jit:tuned;
    vs pytorch: jax+jit:tuned faster by 41%, 17 inconclusive (~6 repeats)'."""
    best = next((r.arm for r in rows if r.rank == 1), None)
    baseline = next((r.baseline for r in rows if r.baseline), "")
    decided, open_repeats = [], []
    for r in rows:
        v = r.verdict
        if r.is_baseline or v is None:
            continue
        if v.outcome == "better" and v.winner is not None:
            text = stats.advantage_text(v.winner, v.adjective, v.advantage)
            decided.append(text if v.winner == r.arm else f"{text} than {r.arm}")  # the baseline won
        elif v.outcome == "equivalent":
            decided.append(f"{r.arm} equivalent (±{v.margin * 100:.3g}%)")
        else:
            open_repeats.append(v.repeats)
    if open_repeats:
        known = [n for n in open_repeats if n is not None]
        more = stats.repeats_text(max(known)).replace("about ", "~") if known else ""
        decided.append(f"{len(open_repeats)} inconclusive" + (f" (up to {more} repeats)" if more else ""))
    head = f"{criterion}: best {best}" if best else criterion
    return f"{head}; vs {baseline}: " + ", ".join(decided) if decided else head


def summary_line(run: RunData, rows: list[WinnerRow], keep_contaminated: bool = False) -> str:
    """'12 jobs: 11 ok, 1 crashed; classification: time pytorch faster by 41%, quality equivalent (±5%)'."""
    parts = [_status_counts(run, keep_contaminated)]
    for task in sorted({r.task for r in rows}):
        every = [r for r in rows if r.task == task]
        if any(r.baseline for r in every):  # more than two arms: one phrase per criterion
            criteria = list(dict.fromkeys(r.criterion for r in every))
            phrases = [_family_phrase(c, [r for r in every if r.criterion == c]) for c in criteria]
            parts.append(f"{task}: " + "; ".join(phrases))
            continue
        parts.append(f"{task}: " + ", ".join(_verdict_phrase(r) for r in every))
    # Beside every GPU verdict: what else differed than the framework (orchestrate: _check_cuda).
    for key in ("cuda_note", "gpu_mode_note"):
        if isinstance(run.meta.get(key), str):
            parts.append(str(run.meta[key]))
    return "; ".join(parts)


def recorded_margin(meta: dict[str, object]) -> float:
    """The equivalence margin a run recorded (run.json `margin`: max(5%, the calibrated floor)), else 5%."""
    value = meta.get("margin")
    return float(value) if isinstance(value, int | float) and 0 < value < 1 else stats.MIN_MARGIN


def recorded_gemm(meta: dict[str, object]) -> dict[str, float] | None:
    """The calibrated GEMM GFLOP/s per framework a run recorded (run.json `calibration`), if any."""
    cal = meta.get("calibration")
    gemm = cal.get("gemm_gflops") if isinstance(cal, dict) else None
    if not isinstance(gemm, dict):
        return None
    rates = {str(k): float(v) for k, v in gemm.items() if isinstance(v, int | float) and v > 0}
    return rates or None


@dataclass(frozen=True)
class Judged:
    """Every verdict of a run, computed once: what render_run writes and bench's `Run` shows."""

    metrics: pd.DataFrame  # tidy, one row per job x epoch (metrics.csv)
    tables: list[Table]  # results_<task>, winner, and compile where a framework ran both compile modes
    rows: list[WinnerRow]  # the winner table's rows
    parity_rows: list[ParityRow]
    parity: Table
    summary: str
    margin: float
    keep_contaminated: bool


def judge(run: RunData, margin: float | None = None, keep_contaminated: bool | None = None) -> Judged:
    """The run's tables, verdicts and parity rows. `margin` (the verdicts' equivalence margin) and
    `keep_contaminated` (let contaminated jobs count in the medians and verdicts) default to what
    the run recorded in run.json (so a re-render gives the same tables), else 5% and no."""
    margin = recorded_margin(run.meta) if margin is None else margin
    keep = run.meta.get("keep_contaminated") is True if keep_contaminated is None else keep_contaminated
    metrics = metrics_frame(run)
    final = final_frame(metrics, keep)
    tables, rows = build_tables(final, margin, recorded_gemm(run.meta), run.baseline)
    tables += compile_tables(metrics, final, len(tables) + 1)
    prows = parity_rows(run)
    return Judged(metrics, tables, rows, prows, parity_table(prows), summary_line(run, rows, keep), margin, keep)


def render_run(
    run_dir: Path, margin: float | None = None, plots: bool = True, keep_contaminated: bool | None = None
) -> Rendered:
    """Write metrics, tables, plots and report.html into `run_dir`; return the written paths and the
    summary line. `margin`, `keep_contaminated`: as `judge`. `plots=False` skips the figures (the
    slow part) in the files and the page."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    judged = judge(run, margin, keep_contaminated)
    written = write_metrics(run, run_dir, judged.metrics)
    for t in [*judged.tables, judged.parity]:
        written.append(write_text_atomic(run_dir / "tables" / f"{t.name}.md", t.markdown()))
        written.append(write_text_atomic(run_dir / "tables" / f"{t.name}.csv", t.csv()))

    figures = render_plots(judged.metrics, run_dir / "plots") if plots else []
    written += [path for plot in figures for path in plot.paths]

    spent = wall_breakdown(run, run_dir)
    written.append(write_breakdown(spent, run_dir / "tables" / "wall_time.json"))
    per_job = spent.table()
    written.append(write_text_atomic(run_dir / "tables" / "wall_time.md", per_job.markdown()))
    written.append(write_text_atomic(run_dir / "tables" / "wall_time.csv", per_job.csv()))
    page = render_html(run, judged.summary, judged.tables, judged.parity, judged.parity_rows, figures,
                       judged.keep_contaminated, spent.line(), per_job)  # fmt: skip
    written.append(write_text_atomic(run_dir / "report.html", page))
    return Rendered(written, judged.summary, spent.line(), spent.as_json())
