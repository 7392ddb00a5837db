"""Compile time and break-even: what a framework's "jit" arm pays up front and when it has paid it back.

For each task and framework that ran both a "none" and a "jit" arm (schemas.suite.Arm), from the
jobs that count in the verdicts:

- compile time of an arm = the median over its repeats of (first epoch − steady-state epoch): the
  first epoch's extra cost (tracing, XLA or torch.compile compilation, warm-up). It is given for
  "none" too, since Keras traces a graph even without jit: the jit arm's own cost is the difference.
- break-even epoch = the first epoch from which on the jit arm's median cumulative training time
  (median over repeats at each epoch) stays below the none arm's through the last epoch both ran;
  "never within N epochs" when there is none. "Stays", not "is once": a crossing that noise undoes
  a few epochs later is no break-even.

Medians, not verdicts: the winner table judges total and steady-state time per arm; this table says
where the difference comes from. It exists only when some framework has both arms, so the outputs of
suites without the compile axis do not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from orchestrator.results._format import MISSING, Table, fmt, fmt_csv
from schemas.suite import Arm

NONE, JIT = "none", "jit"


@dataclass(frozen=True)
class CompileRow:
    task: str
    framework: str
    none_arm: str
    jit_arm: str
    compile_none: float  # median over repeats of first − steady epoch, seconds
    compile_jit: float
    steady_none: float  # median steady-state epoch, seconds
    steady_jit: float
    break_even: int | None  # the epoch from which jit's median cumulative time stays lower
    epochs: int  # the last epoch both arms recorded

    @property
    def break_even_text(self) -> str:
        if self.break_even is None:
            return f"never within {self.epochs} epochs"
        return f"epoch {self.break_even}"


def _median(values: pd.Series) -> float:
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return float(finite.median()) if len(finite) else math.nan


def break_even(none_cumulative: pd.Series, jit_cumulative: pd.Series) -> tuple[int | None, int]:
    """(first epoch from which jit's median cumulative time stays below none's, last common epoch);
    both Series are median cumulative seconds indexed by epoch."""
    common = sorted(set(none_cumulative.index) & set(jit_cumulative.index))
    if not common:
        return None, 0
    found: int | None = None
    for epoch in common:
        if jit_cumulative[epoch] < none_cumulative[epoch]:
            found = epoch if found is None else found
        else:
            found = None
    return found, int(common[-1])


def compile_rows(metrics: pd.DataFrame, final: pd.DataFrame) -> list[CompileRow]:
    """One row per task x framework that has both arms (jobs in `final` with `in_verdicts`)."""
    if "compile" not in final or "arm" not in final:
        return []
    used = final[final["in_verdicts"]] if "in_verdicts" in final else final[final["status"] == "ok"]
    epochs = metrics[metrics["spec_id"].isin(set(used["spec_id"]))].dropna(
        subset=["epoch", "cumulative_seconds"]
    )
    rows = []
    # Each version and tier is its own "framework" here: a framework@version:tier's jit arm is held to
    # the none arm of the same version and tier, and the row is named by that none arm's label.
    keys = ["task", "framework"] + [axis for axis in ("version", "tier") if axis in used]
    for (task, framework, *axes), jobs in used.groupby(keys, sort=True, dropna=False):
        named = dict(zip(keys[2:], axes, strict=True))
        version = named.get("version")
        tier = named.get("tier")
        framework = Arm(
            str(framework),
            NONE,
            version if isinstance(version, str) and version else None,
            tier if isinstance(tier, str) and tier else "matched",
        ).label
        arms = {mode: jobs[jobs["compile"] == mode] for mode in (NONE, JIT)}
        if any(part.empty for part in arms.values()):
            continue
        labels = {mode: str(part["arm"].iloc[0]) for mode, part in arms.items()}
        cumulative = {
            mode: epochs[epochs["spec_id"].isin(set(part["spec_id"]))]
            .groupby("epoch")["cumulative_seconds"]
            .median()
            for mode, part in arms.items()
        }
        first = {
            mode: part["first_epoch_seconds"] - part["steady_epoch_seconds"] for mode, part in arms.items()
        }
        even, last = break_even(cumulative[NONE], cumulative[JIT])
        rows.append(CompileRow(
            str(task), str(framework), labels[NONE], labels[JIT], _median(first[NONE]), _median(first[JIT]),
            _median(arms[NONE]["steady_epoch_seconds"]), _median(arms[JIT]["steady_epoch_seconds"]), even, last,
        ))  # fmt: skip
    return rows


def compile_tables(metrics: pd.DataFrame, final: pd.DataFrame, number: int) -> list[Table]:
    """The compile table as a one-item list, or none when no framework ran both arms."""
    rows = compile_rows(metrics, final)
    if not rows:
        return []
    headers = ("task", "framework", "compile time none (s)", "compile time jit (s)",
               "steady-state epoch none (s)", "steady-state epoch jit (s)", "break-even")  # fmt: skip
    csv_headers = ("task", "framework", "none_arm", "jit_arm", "compile_seconds_none", "compile_seconds_jit",
                   "steady_epoch_seconds_none", "steady_epoch_seconds_jit", "break_even_epoch", "epochs")  # fmt: skip
    display = tuple(
        (r.task, r.framework, fmt(r.compile_none), fmt(r.compile_jit), fmt(r.steady_none), fmt(r.steady_jit),
         r.break_even_text if r.epochs else MISSING)
        for r in rows
    )  # fmt: skip
    raw = tuple(
        (r.task, r.framework, r.none_arm, r.jit_arm, fmt_csv(r.compile_none), fmt_csv(r.compile_jit),
         fmt_csv(r.steady_none), fmt_csv(r.steady_jit), "" if r.break_even is None else str(r.break_even),
         str(r.epochs))
        for r in rows
    )  # fmt: skip
    caption = (
        "Per framework that ran both a standard (none) and a compiled (jit) arm. Compile time: median "
        "over ok repeats of (first epoch − steady-state epoch), the first epoch's extra cost (tracing, "
        "compilation, warm-up); for none too, since some frameworks trace a graph without jit. "
        "Break-even: the first epoch from which on the jit arm's median cumulative training time stays "
        "below the none arm's up to the last epoch both ran; otherwise never within that many epochs. "
        "Medians only: the winner table judges the arms' total and steady-state times."
    )
    return [Table(name="compile", title=f"Table {number}: compile time and break-even", caption=caption,
                  headers=headers, rows=display, csv_headers=csv_headers, csv_rows=raw)]  # fmt: skip
