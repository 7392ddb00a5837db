"""The winner table of a run with more than two arms: per task x criterion every arm, ranked by its
median, each against the baseline with Holm-adjusted intervals (holm.py); `tables.winner_table`
hands its rows here. A run with two arms keeps the pairwise table, unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.results import stats
from orchestrator.results._format import MISSING, Table, fmt, fmt_csv

if TYPE_CHECKING:
    from orchestrator.results.tables import WinnerRow

HEADERS = ("task", "criterion", "rank", "arm", "baseline", "n arm / baseline", "median arm",
           "median baseline", "ratio arm/baseline (HL)", "interval (Holm)", "Mann-Whitney p", "margin m",
           "verdict")  # fmt: skip
# The pairwise table's CSV columns (framework_a = the arm, framework_b = the baseline), then the family's.
CSV_HEADERS = (
    "task", "criterion", "measure", "better", "framework_a", "framework_b", "n_a", "n_b",
    "median_a", "median_b", "ratio", "ci_lo", "ci_hi", "ci90_lo", "ci90_hi", "p_value", "margin",
    "scale", "outcome", "winner", "advantage", "repeats_needed", "verdict",
    "rank", "n_arms", "baseline", "ci_level", "eq_level",
)  # fmt: skip


def _rank(row: WinnerRow) -> str:
    return MISSING if row.rank is None else f"{row.rank} of {row.arms}"


def family_table(rows: list[WinnerRow], number: int, margin: float) -> Table:
    display, raw = [], []
    for r in rows:
        crit = f"{r.criterion}: {r.measure} ({f'{r.target}; ' if r.target else ''}{r.better} is better)"
        v = r.verdict
        if v is None:
            what = "baseline" if r.is_baseline else r.note
            display.append(
                (r.task, crit, _rank(r), r.arm or MISSING, r.baseline or MISSING, *([MISSING] * 7), what)
            )
            raw.append((r.task, r.criterion, r.measure, r.better, r.arm, "", *([""] * 16), what,
                        "" if r.rank is None else str(r.rank), str(r.arms) if r.arms else "", r.baseline, "", ""))  # fmt: skip
            continue
        interval = (
            f"{stats.level_text(v.ci_level)} [{fmt(v.ci_lo)}, {fmt(v.ci_hi)}]" if v.n_a and v.n_b else MISSING
        )
        display.append((r.task, crit, _rank(r), v.name_a, v.name_b, f"{v.n_a} / {v.n_b}", fmt(v.median_a),
                        fmt(v.median_b), fmt(v.ratio), interval, fmt(v.p_value), f"±{v.margin * 100:.3g}%",
                        v.text))  # fmt: skip
        raw.append((
            r.task, r.criterion, r.measure, r.better, v.name_a, v.name_b, str(v.n_a), str(v.n_b),
            fmt_csv(v.median_a), fmt_csv(v.median_b), fmt_csv(v.ratio), fmt_csv(v.ci_lo), fmt_csv(v.ci_hi),
            fmt_csv(v.eq_lo), fmt_csv(v.eq_hi), fmt_csv(v.p_value), fmt_csv(v.margin), v.scale, v.outcome,
            v.winner or "", fmt_csv(v.advantage), "" if v.repeats is None else str(v.repeats), v.text,
            "" if r.rank is None else str(r.rank), str(r.arms), r.baseline, fmt_csv(v.ci_level),
            fmt_csv(v.eq_level),
        ))  # fmt: skip
    caption = (
        "More than two arms: per task and criterion every arm, ranked by its median over ok repeats "
        "(1 = best), and every arm but the baseline compared with it (ratio = arm/baseline). "
        f"{stats.METHOD} With K arms besides the baseline the K comparisons are one family, decided "
        "with Holm's step-down: ordered by their exact Mann–Whitney p, the i-th (from 0) is tested with "
        "the interval at level 1 − 5%/(K − i), and the first that does not exclude 1 stops the others; "
        "equivalence the same way with the TOST levels 1 − 10%/(K − i). The interval column shows the "
        "level each comparison was judged at. So the chance that any arm of a task and criterion is "
        f"called faster/better when none differs stays below 5%. Margin m = ±{margin * 100:.3g}%."
    )
    return Table(
        name="winner",
        title=f"Table {number}: winner table (arms ranked; each against the baseline, Holm-adjusted)",
        caption=caption,
        headers=HEADERS,
        rows=tuple(display),
        csv_headers=CSV_HEADERS,
        csv_rows=tuple(raw),
        row_marks=tuple("win" if r.verdict and r.verdict.winner else "" for r in rows),
    )
