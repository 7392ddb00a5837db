"""`bench compare RUN_A RUN_B`: did anything get slower or worse from run A to run B?

Per task, arm (schemas.suite.Arm: a framework and its compile mode, 'pytorch+jit') and criterion (the winner table's: total time, steady-state epoch time,
final validation metric), with a and b the two runs' per-repeat values of the jobs that count in
their verdicts:

- ratio B/A: the Hodges–Lehmann estimate on log values with its exact Mann–Whitney-inverted 95%
  interval — `stats.verdict(b, a, ...)`, the very rule of the winner table, with B in the first slot;
- change, flagged the way asv flags a commit (beyond a threshold AND statistically significant):
  *regression* / *improvement* when the 95% interval excludes 1 and the ratio lies beyond 1±m in the
  worse / better direction of the criterion; otherwise *no change* (equivalent within ±m, or not
  significant: the detail says which and how many repeats would decide);
- m = the larger of the two runs' recorded margins (run.json `margin`: max(5%, the A/A floor)).

Two hardware classes are never compared silently: the comparison refuses (MixedHardwareError)
unless asked, and then labels every line as mixed. Under A/A the chance of a false flag per line is
at most 8/252 = 3.2% at 5 vs 5 repeats (stats' bound), whatever the noise's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from orchestrator.results import recorded_margin, stats
from orchestrator.results._format import Table, fmt, fmt_csv
from orchestrator.results.tables import (
    CRITERIA,
    TARGET_COLUMNS,
    arms_of,
    criterion_adjective,
    criterion_measure,
    hardware_classes,
    ok_values,
    task_metric,
    to_target_values,
)
from orchestrator.results.tidy import NoCountedJobs, counted_jobs

Change = Literal["regression", "improvement", "no change"]


class CompareError(ValueError):
    """A user error: one line naming the path, exit 2."""


class MixedHardwareError(CompareError):
    pass


@dataclass(frozen=True)
class Side:
    path: Path
    name: str
    final: pd.DataFrame  # tidy.final_frame of the run
    margin: float
    hardware: tuple[str, ...]  # the classes of the jobs that count in the verdicts


@dataclass(frozen=True)
class Line:
    task: str
    arm: str
    criterion: str
    hardware: str  # the class, or "MIXED: A x | B y"
    verdict: stats.Verdict  # name_a = "B", name_b = "A": ratio = B/A
    change: Change
    detail: str


def load_side(path: Path) -> Side:
    """One run directory, checked: CompareError for a path that is not one or has no ok job."""
    try:
        run, used = counted_jobs(path)
    except NoCountedJobs as exc:
        raise CompareError(str(exc)) from None
    # A report without an environment has no class: it is its own class, never matched to a known one.
    used = used.assign(hardware=used["hardware"].fillna("unknown hardware"))
    classes = tuple(sorted({str(h) for h in used["hardware"]}))
    return Side(path, run.name, used, recorded_margin(run.meta), classes)


def judge_change(
    a: stats.Values,
    b: stats.Values,
    better: stats.Direction,
    margin: float,
    adjective: str = "faster",
    censored: bool = False,
) -> tuple[stats.Verdict, Change, str]:
    """The verdict of B against A (ratio B/A), its change and the words for it. `censored`: time to
    target, +inf = a job that never reached it (stats.verdict)."""
    v = stats.verdict(
        b, a, better=better, name_a="B", name_b="A", margin=margin, adjective=adjective, censored=censored
    )
    if v.outcome != "better":
        detail = v.text if v.outcome != "inconclusive" else "not significant: " + v.text.split(" — ")[-1]
        return v, "no change", detail
    worse = "slower" if adjective == "faster" else "worse"
    change: Change = "improvement" if v.winner == "B" else "regression"
    said = adjective if change == "improvement" else worse
    return (
        v,
        change,
        "B " + stats.advantage_text("", said, v.advantage, v.advantage_lo, v.advantage_hi).strip(),
    )


def _groups(a: Side, b: Side, mixed: bool) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(task, hardware label, A's rows, B's rows) for every task both ran, within each hardware class
    (or pooled and labelled mixed)."""
    tasks = sorted(set(a.final["task"].dropna()) & set(b.final["task"].dropna()))
    if mixed:
        label = f"MIXED: A {' | '.join(a.hardware)}; B {' | '.join(b.hardware)}"
        return [(t, label, a.final[a.final["task"] == t], b.final[b.final["task"] == t]) for t in tasks]
    out = []
    for task in tasks:
        ga, gb = a.final[a.final["task"] == task], b.final[b.final["task"] == task]
        for hardware in sorted(set(hardware_classes(ga)) & set(hardware_classes(gb))):
            out.append((task, hardware, ga[ga["hardware"] == hardware], gb[gb["hardware"] == hardware]))
    return out


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    margin: float
    mixed: bool
    lines: tuple[Line, ...]

    @property
    def regressions(self) -> list[Line]:
        return [line for line in self.lines if line.change == "regression"]


def compare_runs(path_a: Path, path_b: Path, allow_mixed_hardware: bool = False) -> Comparison:
    a, b = load_side(path_a), load_side(path_b)
    mixed = a.hardware != b.hardware
    if mixed and not allow_mixed_hardware:
        raise MixedHardwareError(
            f"different hardware classes: {path_a} ran on {' | '.join(a.hardware)}, {path_b} on "
            f"{' | '.join(b.hardware)}; timings are not comparable (--allow-mixed-hardware to compare anyway)"
        )
    margin = max(a.margin, b.margin)
    lines = []
    for task, hardware, ga, gb in _groups(a, b, mixed):
        metric = task_metric(ga, str(task))
        for arm in sorted(set(arms_of(ga)) & set(arms_of(gb))):
            for criterion, column in CRITERIA:
                if column not in ga or column not in gb:
                    continue
                censored = column in TARGET_COLUMNS
                values = to_target_values if censored else ok_values
                a_values, b_values = values(ga, arm, column), values(gb, arm, column)
                if not a_values and not b_values:
                    continue  # neither run measured it
                if censored and not (a_values and b_values):
                    continue  # time to target needs a target in both runs' suites (older runs have none)
                better = stats.BETTER[criterion_measure(criterion, metric)]
                adjective = criterion_adjective(criterion)
                v, change, detail = judge_change(a_values, b_values, better, margin, adjective, censored)
                lines.append(Line(str(task), arm, criterion, hardware, v, change, detail))
    if not lines:
        raise CompareError(
            f"{path_a} and {path_b} have no task and arm in common "
            f"(A: {', '.join(_tasks(a))}; B: {', '.join(_tasks(b))})"
        )
    return Comparison(a, b, margin, mixed, tuple(lines))


def _tasks(side: Side) -> list[str]:
    pairs = side.final[["task", "arm"]].dropna().drop_duplicates().sort_values(["task", "arm"])
    return [f"{t}/{f}" for t, f in pairs.itertuples(index=False)]


def _ci(v: stats.Verdict) -> str:
    return f"{fmt(v.ci_lo)}–{fmt(v.ci_hi)}"


def comparison_table(c: Comparison) -> Table:
    headers = ("task", "arm", "criterion", "hardware", "median A", "median B", "ratio B/A",
               "95% CI", "p", "n A / B", "change", "detail")  # fmt: skip
    csv_headers = ("task", "arm", "criterion", "hardware", "median_a", "median_b", "ratio", "ci_lo",
                   "ci_hi", "p_value", "n_a", "n_b", "margin", "change", "detail")  # fmt: skip
    rows, csv_rows = [], []
    for line in c.lines:
        v = line.verdict
        rows.append((line.task, line.arm, line.criterion, line.hardware, fmt(v.median_b), fmt(v.median_a),
                     fmt(v.ratio), _ci(v), fmt(v.p_value, 2), f"{v.n_b} / {v.n_a}", line.change, line.detail))  # fmt: skip
        csv_rows.append((line.task, line.arm, line.criterion, line.hardware, fmt_csv(v.median_b),
                         fmt_csv(v.median_a), fmt_csv(v.ratio), fmt_csv(v.ci_lo), fmt_csv(v.ci_hi),
                         fmt_csv(v.p_value), str(v.n_b), str(v.n_a), fmt_csv(c.margin), line.change,
                         line.detail))  # fmt: skip
    mixed = " MIXED HARDWARE: times are not comparable across classes." if c.mixed else ""
    return Table(
        name="compare",
        title=f"{c.b.name} (B) against {c.a.name} (A)",
        caption=(
            f"A = {c.a.path}, B = {c.b.path}. Ratio B/A: Hodges–Lehmann on log values with the exact "
            f"Mann–Whitney-inverted 95% interval; flagged when the interval excludes 1 and the ratio is "
            f"beyond 1±m, m = ±{c.margin * 100:.3g}% (the larger recorded margin).{mixed}"
        ),
        headers=headers,
        rows=tuple(rows),
        csv_headers=csv_headers,
        csv_rows=tuple(csv_rows),
    )


def summary_line(c: Comparison) -> str:
    """'2 regressions, 0 improvements, 4 no change (margin ±5%)'."""
    counts = {kind: sum(line.change == kind for line in c.lines) for kind in ("regression", "improvement")}
    rest = len(c.lines) - sum(counts.values())
    text = (f"{counts['regression']} regression{'s' if counts['regression'] != 1 else ''}, "
            f"{counts['improvement']} improvement{'s' if counts['improvement'] != 1 else ''}, "
            f"{rest} no change (margin ±{c.margin * 100:.3g}%)")  # fmt: skip
    return text + (" [MIXED HARDWARE]" if c.mixed else "")
