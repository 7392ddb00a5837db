"""Per-task results tables (the paper's Tables 1 and 2, with repeats) and the winner table (Table 3).

Inputs are the per-job frame from `tidy.final_frame`; only jobs with status "ok" contribute values,
every job counts in "n ok / n total".
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import pandas as pd

from orchestrator.results import holm, stats
from orchestrator.results._format import MISSING, Table, fmt, fmt_csv
from orchestrator.results.family_table import family_table
from orchestrator.results.tidy import finite
from schemas.datasets import METRIC_FOR_TASK
from schemas.suite import REACHED_FROM

# (column in the per-job frame, display label); "{metric}" is filled in per task.
QUANTITIES: tuple[tuple[str, str], ...] = (
    ("final_train_metric", "final train {metric}"),
    ("final_val_metric", "final val {metric}"),
    ("total_train_seconds", "total train time (s)"),
    ("steady_epoch_seconds", "steady-state epoch (s)"),
    ("first_epoch_seconds", "first epoch (s)"),
    ("setup_seconds", "setup (s)"),
    ("train_gflops", "GEMM GFLOP/s, steady epoch"),
    ("epochs_to_target", "epochs to target"),
    ("seconds_to_target", "time to target (s)"),
    ("peak_rss_mb", "peak RSS (MiB)"),
)
# Autoencoder tasks only (a column and a criterion where the jobs report it): how well k-means on the
# validation codes recovers the labels.
ARI = ("final_val_ari", "final val ARI (k-means on codes)")
# Time to target: a job that never reached the target counts as +inf (tidy.time_to_target).
TARGET_COLUMNS = ("epochs_to_target", "seconds_to_target")
# Winner-table criteria: (criterion, column). Quality's direction comes from the task's metric.
# Total time answers "which trains this job faster"; the steady-state epoch separates the
# framework's per-epoch speed from one-off tracing/compilation in epoch 1.
CRITERIA: tuple[tuple[str, str], ...] = (
    ("time", "total_train_seconds"),
    ("epoch time", "steady_epoch_seconds"),
    ("quality", "final_val_metric"),
    ("time to target", "seconds_to_target"),  # only for a task with a target in the suite
    ("clustering", ARI[0]),  # only for a task whose jobs report it (autoencoders)
)
SPREAD_CAPTION = "Each cell: median (min–max) over ok repeats; min–max rather than IQR because"
SPREAD_CAPTION += " repeats are few."


# Criteria of how good the trained model is (the rest are costs: time).
QUALITY_CRITERIA = ("quality", "clustering")


def criterion_measure(criterion: str, metric: str) -> str:
    """The key of stats.BETTER a criterion follows: the task's metric for quality, the ARI for
    clustering, time for every other."""
    return {"quality": metric, "clustering": "ari"}.get(criterion, "time")


def criterion_adjective(criterion: str) -> str:
    return "better" if criterion in QUALITY_CRITERIA else "faster"


def has_ari(group: pd.DataFrame) -> bool:
    return ARI[0] in group and bool(group[ARI[0]].notna().any())


def quantities(group: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The results table's columns for one task's jobs."""
    return (*QUANTITIES[:2], ARI, *QUANTITIES[2:]) if has_ari(group) else QUANTITIES


def tasks_of(final: pd.DataFrame) -> list[str]:
    return sorted(str(t) for t in final["task"].dropna().unique())


def _arm_column(group: pd.DataFrame) -> str:
    # A frame made before arms existed (or by hand) has one arm per framework.
    return "arm" if "arm" in group else "framework"


def arms_of(group: pd.DataFrame) -> list[str]:
    """The arm labels present (schemas.suite.Arm), sorted."""
    return sorted(str(f) for f in group[_arm_column(group)].dropna().unique())


def arm_header(group: pd.DataFrame) -> str:
    """What a table calls its arms: "framework" while every arm is a framework's standard execution
    (so tables of suites without the compile axis read as they always did), else "arm"."""
    pairs = group[["framework", _arm_column(group)]].dropna().drop_duplicates()
    return "framework" if all(str(f) == str(a) for f, a in pairs.itertuples(index=False)) else "arm"


def framework_of(group: pd.DataFrame, arm: str) -> str:
    """The framework an arm runs (its label, for a frame without arms)."""
    rows = group.loc[group[_arm_column(group)] == arm, "framework"].dropna()
    return str(rows.iloc[0]) if len(rows) else arm


def task_metric(group: pd.DataFrame, task: str) -> str:
    metrics = sorted(str(m) for m in group["metric"].dropna().unique())
    return metrics[0] if len(metrics) == 1 else METRIC_FOR_TASK.get(task, "/".join(metrics))


def datasets_label(group: pd.DataFrame) -> str:
    names = sorted(str(d) for d in group["dataset"].dropna().unique())
    return ", ".join(names) if names else "unknown dataset"


def ok_values(group: pd.DataFrame, arm: str, column: str) -> list[float]:
    """The values the tables and verdicts use: the arm's ok jobs, contaminated ones left out unless
    the run keeps them (tidy.final_frame's `in_verdicts`)."""
    used = group["in_verdicts"] if "in_verdicts" in group else group["status"] == "ok"
    rows = group[(group[_arm_column(group)] == arm) & used]
    return finite(rows[column].tolist())


def to_target_values(group: pd.DataFrame, arm: str, column: str) -> list[float]:
    """Like `ok_values` for a TARGET_COLUMNS column, but a job that never reached the target is
    kept, as +inf: slower than every job that did (stats.verdict's `censored`)."""
    used = group["in_verdicts"] if "in_verdicts" in group else group["status"] == "ok"
    rows = group[(group[_arm_column(group)] == arm) & used]
    never = rows["seconds_to_target"] == math.inf
    return [math.inf if missed else float(v) for v, missed in zip(rows[column], never, strict=True)
            if missed or not pd.isna(v)]  # fmt: skip


def task_target(group: pd.DataFrame) -> float | None:
    targets = sorted({float(t) for t in group["target"].dropna()}) if "target" in group else []
    return targets[0] if len(targets) == 1 else None


def target_text(metric: str, target: float) -> str:
    """'val accuracy >= 0.88'"""
    return f"val {metric} {REACHED_FROM.get(metric, '?')} {target:g}"


def contaminated_count(jobs: pd.DataFrame) -> int:
    return int(((jobs["status"] == "ok") & jobs["contaminated"].fillna(False).astype(bool)).sum())


def _summary(values: list[float]) -> tuple[float, float, float]:
    s = pd.Series(values, dtype="float64")
    return float(s.median()), float(s.min()), float(s.max())


def _quantity(group: pd.DataFrame, framework: str, column: str) -> tuple[str, list[str]]:
    """One results-table cell, 'median (min–max)', and its CSV fields: median, min, max, n."""
    to_target = column in TARGET_COLUMNS
    values = (to_target_values if to_target else ok_values)(group, framework, column)
    med, lo, hi = _summary(values) if values else (math.nan,) * 3
    one = _epochs if column == "epochs_to_target" else fmt  # epochs are whole: no padded digits
    if not values:
        cell = MISSING
    else:
        cell = one(med) if len(values) == 1 else f"{one(med)} ({one(lo)}–{one(hi)})"
    reached = sum(map(math.isfinite, values))
    if to_target and reached < len(values):
        cell += f", reached {reached}/{len(values)}"
    return cell, [fmt_csv(med), fmt_csv(lo), fmt_csv(hi), str(len(values))]


def _epochs(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


def results_table(final: pd.DataFrame, task: str, number: int, gemm: dict[str, float] | None = None) -> Table:
    """One row per arm. `gemm`: the calibrated GEMM GFLOP/s of each framework on this machine (bench
    calibrate); with it, a last column says what share of that rate the training steps reach."""
    group = final[final["task"] == task]
    metric = task_metric(group, task)
    better = stats.BETTER.get(metric, "lower")
    columns = quantities(group)
    labels = [label.format(metric=metric) for _, label in columns]
    name = arm_header(final)
    headers = (name, "ok / total", *labels, *(("share of calibrated GEMM rate",) if gemm else ()))
    target = task_target(group)
    csv_headers: list[str] = ["task", name, "n_ok", "n_total", "n_contaminated"]
    for col, _ in columns:
        csv_headers += [f"{col}_median", f"{col}_min", f"{col}_max", f"{col}_n"]
    csv_headers += ["target", "n_reached_target"]
    if gemm:
        csv_headers.append("gemm_share")
    rows, csv_rows = [], []
    for fw in arms_of(group):
        jobs = group[group[_arm_column(group)] == fw]
        n_ok, n_total = int((jobs["status"] == "ok").sum()), len(jobs)
        n_dirty = contaminated_count(jobs)
        kept = bool(jobs["in_verdicts"].sum() == n_ok) if "in_verdicts" in jobs else True
        dirty = f" ({n_dirty} contaminated{', kept' if kept else ', left out'})" if n_dirty else ""
        cells = [fw, f"{n_ok} / {n_total}{dirty}"]
        raw = [task, fw, str(n_ok), str(n_total), str(n_dirty)]
        for col, _ in columns:
            cell, fields = _quantity(group, fw, col)
            cells.append(cell)
            raw += fields
        reached = sum(map(math.isfinite, to_target_values(group, fw, "seconds_to_target")))
        raw += [fmt_csv(target), "" if target is None else str(reached)]
        if gemm:
            rate, values = gemm.get(framework_of(group, fw)), ok_values(group, fw, "train_gflops")
            share = float(pd.Series(values).median()) / rate if rate and values else float("nan")
            cells.append(MISSING if share != share else f"{share:.1%} of {rate:.0f}")
            raw.append(fmt_csv(share))
        rows.append(tuple(cells))
        csv_rows.append(tuple(raw))
    epochs = sorted(int(e) for e in group["epochs_planned"].dropna().unique())
    caption = (
        f"{SPREAD_CAPTION} Metric: {metric} ({better} is better), after the last epoch "
        f"(planned epochs: {', '.join(map(str, epochs)) or MISSING}). Times in seconds: total = "
        "timed training steps only; steady-state = median of epochs 2..N; first epoch includes "
        "tracing/compilation; setup = import + data load + model build. Contaminated jobs (timed "
        "while other processes loaded the machine, docs/noise.md) are left out of the medians and the "
        "verdicts unless the run keeps them (--keep-contaminated). GEMM GFLOP/s: the matrix multiplies "
        "and convolutions of one training epoch (3x the forward pass's multiply-adds, 2 FLOPs each, per "
        "sample; 6·in·out for a dense layer) over the steady epoch time"
        + (
            "; its share of the rate bench calibrate measured for that framework's GEMM on this machine"
            if gemm
            else ""
        )
        + ". "
        + (
            f"Time to target ({target_text(metric, target)}, the suite's target): the training seconds "
            "and epochs until the first epoch that reached it; a job that never did counts as inf "
            "(slower than any that did, never left out) and the cell says how many reached it"
            if target is not None
            else "Time to target: the suite sets no target for this task"
        )
        + (". ARI: adjusted Rand index of k-means (one cluster per class) on the validation codes against "
           "the labels, after the last epoch (1 = the classes recovered, 0 = chance)" if has_ari(group) else "")
        + ". Peak RSS: the runner's peak resident memory (getrusage: its own process or its largest "
        "child, whichever is larger). Hardware: "
        + (" | ".join(hardware_classes(group)) or MISSING)
        + (" (MIXED: times are not comparable across these)" if len(hardware_classes(group)) > 1 else "")
        + "."
    )
    return Table(
        name=f"results_{task}",
        title=f"Table {number}: {task} on {datasets_label(group)}: results per {name}",
        caption=caption,
        headers=headers,
        rows=tuple(rows),
        csv_headers=tuple(csv_headers),
        csv_rows=tuple(csv_rows),
    )


@dataclass(frozen=True)
class WinnerRow:
    task: str
    criterion: str  # "time", "epoch time", "quality" or "time to target"
    measure: str  # "total_train_seconds" / "accuracy" / "mse" / "seconds_to_target"
    better: str
    verdict: stats.Verdict | None  # None: fewer than two arms ran this task, none reached the target, or the baseline's row
    note: str = ""
    target: str = ""  # time to target: 'val accuracy >= 0.88'
    # More than two arms (`family_rows`): every arm gets a row, ranked by median; the others' verdicts
    # are against `baseline`, Holm-adjusted over the task x criterion's family (holm.py).
    arm: str = ""
    rank: int | None = None  # 1 = best median; None: no value (or not a ranked row)
    arms: int = 0  # how many arms were ranked
    baseline: str = ""

    @property
    def is_baseline(self) -> bool:
        return bool(self.baseline) and self.arm == self.baseline


def hardware_classes(group: pd.DataFrame) -> list[str]:
    """The distinct hardware classes of a task's ok jobs (see tidy.hardware_class)."""
    ok = group[group["status"] == "ok"]
    return sorted({str(h) for h in ok["hardware"].dropna()}) if "hardware" in ok else []


def winner_rows(
    final: pd.DataFrame, margin: float = stats.MIN_MARGIN, baseline: str | None = None
) -> list[WinnerRow]:
    """Per task x criterion: with two arms (or fewer) in the run, one row per pair (sorted names), as
    the winner table always was; with more, `family_rows`: every arm ranked, each other arm against
    `baseline` (default: the first arm by name), Holm-adjusted. `margin` is the equivalence margin m
    (stats.margin_for gives max(5%, a measured noise floor))."""
    run_arms = arms_of(final)
    family = len(run_arms) > 2
    chosen = baseline if baseline in run_arms else (run_arms[0] if run_arms else "")
    header = arm_header(final)
    out: list[WinnerRow] = []
    for task in tasks_of(final):
        group = final[final["task"] == task]
        metric = task_metric(group, task)
        arms = arms_of(group)
        classes = hardware_classes(group)
        target = task_target(group)
        for criterion, col in CRITERIA:
            to_target = col in TARGET_COLUMNS
            if (to_target and target is None) or (col == ARI[0] and not has_ari(group)):
                continue
            measure = criterion_measure(criterion, metric) if criterion in QUALITY_CRITERIA else col
            better = stats.BETTER[criterion_measure(criterion, metric)]
            row = WinnerRow(task, criterion, measure, better, None,
                            target=target_text(metric, target) if to_target and target is not None else "")  # fmt: skip
            values = {arm: (to_target_values if to_target else ok_values)(group, arm, col) for arm in arms}
            note = _no_verdict(arms, classes, header, chosen if family else None)
            if note is None and to_target and not any(map(math.isfinite, itertools.chain(*values.values()))):
                # Nothing to rank, and more repeats of the same settings would not help.
                counts = ", ".join(f"{arm} 0/{len(values[arm])}" for arm in arms)
                note = f"no job reached the target ({counts})"
            if note is not None:
                out.append(replace(row, note=note))
            elif family:
                out += family_rows(row, values, chosen, margin)
            else:
                out += [replace(row, verdict=v) for v in _pair_verdicts(row, values, margin)]
    return out


def _no_verdict(arms: list[str], classes: list[str], header: str, baseline: str | None) -> str | None:
    """Why a task x criterion gets no verdict at all, or None."""
    if len(arms) < 2:
        return f"only one {header} ({', '.join(arms) or 'none'})"
    if len(classes) > 1:
        # Timings from different hardware are never pooled into one verdict.
        return f"mixed hardware, not pooled: {' | '.join(classes)}; run each class apart"
    if baseline is not None and baseline not in arms:
        return f"the baseline {baseline} did not run this task ({', '.join(arms)} did)"
    return None


def _judging(row: WinnerRow) -> tuple[stats.Direction, str, bool]:
    """(better, adjective, censored) of a verdict on `row`'s criterion."""
    better: stats.Direction = "higher" if row.better == "higher" else "lower"
    return better, criterion_adjective(row.criterion), row.measure in TARGET_COLUMNS


def _pair_verdicts(row: WinnerRow, values: dict[str, list[float]], margin: float) -> list[stats.Verdict]:
    better, adjective, censored = _judging(row)
    return [
        stats.verdict(values[fa], values[fb], better=better, name_a=fa, name_b=fb, margin=margin,
                      adjective=adjective, censored=censored)  # fmt: skip
        for fa, fb in itertools.combinations(sorted(values), 2)
    ]


def family_rows(row: WinnerRow, values: dict[str, list[float]], baseline: str, margin: float) -> list[WinnerRow]:
    """Every arm of one task x criterion, best median first (arms without a value last, then by
    name); the baseline's row has no verdict, every other one its Holm-adjusted verdict against it."""
    better, adjective, censored = _judging(row)
    verdicts = holm.family_verdicts(
        values, baseline, better=better, margin=margin, adjective=adjective, censored=censored
    )
    sign = 1.0 if row.better == "lower" else -1.0
    medians = {arm: float(pd.Series(v, dtype="float64").median()) if v else math.nan for arm, v in values.items()}
    order = sorted(values, key=lambda arm: (math.isnan(medians[arm]), sign * medians[arm] if not
                                            math.isnan(medians[arm]) else 0.0, arm))  # fmt: skip
    out = []
    for i, arm in enumerate(order):
        rank = None if math.isnan(medians[arm]) else i + 1
        ranked = replace(row, arm=arm, rank=rank, arms=len(order), baseline=baseline)
        out.append(replace(ranked, note="baseline") if arm == baseline else replace(ranked, verdict=verdicts[arm]))
    return out


def _margin_text(margin: float) -> str:
    return f"±{margin * 100:.3g}%"


def winner_table(rows: list[WinnerRow], number: int, margin: float = stats.MIN_MARGIN) -> Table:
    if any(r.arms for r in rows):
        return family_table(rows, number, margin)
    pairs = {(r.verdict.name_a, r.verdict.name_b) for r in rows if r.verdict is not None}
    named = len(pairs) == 1
    a, b = next(iter(pairs)) if named else ("A", "B")
    headers: tuple[str, ...] = (
        "task",
        "criterion",
        *(() if named else ("A", "B")),
        f"n {a} / {b}",
        f"median {a}",
        f"median {b}",
        f"ratio {a}/{b} (HL)",
        "95% CI",
        "Mann-Whitney p",
        "margin m",
        "verdict",
    )
    display, raw = [], []
    for r in rows:
        crit = f"{r.criterion}: {r.measure} ({f'{r.target}; ' if r.target else ''}{r.better} is better)"
        v = r.verdict
        if v is None:
            cells = [r.task, crit, *(() if named else ("", "")), *([MISSING] * 7), r.note]
            raw_cells = [r.task, r.criterion, r.measure, r.better, *([""] * 18), r.note]
        else:
            ci = f"[{fmt(v.ci_lo)}, {fmt(v.ci_hi)}]" if v.n_a and v.n_b else MISSING
            cells = [
                r.task,
                crit,
                *(() if named else (v.name_a, v.name_b)),
                f"{v.n_a} / {v.n_b}",
                fmt(v.median_a),
                fmt(v.median_b),
                fmt(v.ratio),
                ci,
                fmt(v.p_value),
                _margin_text(v.margin),
                v.text,
            ]
            raw_cells = [r.task, r.criterion, r.measure, r.better, v.name_a, v.name_b]
            raw_cells += [str(v.n_a), str(v.n_b), fmt_csv(v.median_a), fmt_csv(v.median_b)]
            raw_cells += [fmt_csv(v.ratio), fmt_csv(v.ci_lo), fmt_csv(v.ci_hi)]
            raw_cells += [fmt_csv(v.eq_lo), fmt_csv(v.eq_hi), fmt_csv(v.p_value), fmt_csv(v.margin)]
            raw_cells += [v.scale, v.outcome, v.winner or "", fmt_csv(v.advantage)]
            raw_cells += ["" if v.repeats is None else str(v.repeats), v.text]
        display.append(tuple(cells))
        raw.append(tuple(raw_cells))
    caption = (
        f"Ratio = {a}/{b}, frameworks in sorted name order. {stats.METHOD} Margin m = "
        f"{_margin_text(margin)} (beyond 1±m: ratio above 1+m or below 1/(1+m)); faster/better by X% = "
        "the slower (worse) side's value over the faster (better) side's, minus 1, with its 95% CI; "
        "p: two-sided Mann-Whitney U. Time = total training seconds (all epochs, first included); epoch "
        "time = steady-state epoch (median of epochs 2..N); quality = validation metric after the last "
        "epoch; time to target (where the suite sets a target) = training seconds until the first epoch "
        "whose validation metric reached it, a job that never did counting as slower than any that did "
        "(+inf: ranked, never left out; its verdict says how many jobs of each side reached it)"
        + ("; clustering (autoencoders) = adjusted Rand index of k-means on the validation codes after the "
           "last epoch" if any(r.criterion == "clustering" for r in rows) else "")
        + "."
    )
    csv_headers = (
        "task", "criterion", "measure", "better", "framework_a", "framework_b", "n_a", "n_b",
        "median_a", "median_b", "ratio", "ci_lo", "ci_hi", "ci90_lo", "ci90_hi", "p_value", "margin",
        "scale", "outcome", "winner", "advantage", "repeats_needed", "verdict",
    )  # fmt: skip
    return Table(
        name="winner",
        title=f"Table {number}: winner table",
        caption=caption,
        headers=headers,
        rows=tuple(display),
        csv_headers=csv_headers,
        csv_rows=tuple(raw),
        row_marks=tuple("win" if r.verdict and r.verdict.winner else "" for r in rows),
    )


def build_tables(
    final: pd.DataFrame,
    margin: float = stats.MIN_MARGIN,
    gemm: dict[str, float] | None = None,
    baseline: str | None = None,
) -> tuple[list[Table], list[WinnerRow]]:
    """Results table per task (Table 1, 2, ...) then the winner table; `margin` = equivalence margin m;
    `gemm`: the calibrated GEMM rate per framework, when the run recorded one; `baseline`: the arm
    the others are compared with when there are more than two (`winner_rows`)."""
    tables = [results_table(final, task, i + 1, gemm) for i, task in enumerate(tasks_of(final))]
    rows = winner_rows(final, margin=margin, baseline=baseline)
    tables.append(winner_table(rows, len(tables) + 1, margin=margin))
    return tables, rows
