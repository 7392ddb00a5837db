"""`--repeats auto`: add one interleaved repeat of every arm (framework x compile mode) at a time until
every verdict is decided (better, worse or equivalent), or the suite's max_repeats is reached; say
where it stopped.

After each round the verdicts are computed exactly as the report computes them (same margin, same
treatment of contaminated jobs, same baseline and Holm family with more than two arms). Criteria
without a verdict at all (one arm, mixed hardware) and a baseline's own row cannot be decided by more
repeats and do not hold the run open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestrator import plan as planning
from orchestrator.results.tables import winner_rows
from orchestrator.results.tidy import final_frame, load_run, metrics_frame
from orchestrator.rundir import RunDir
from schemas.job import Device, JobSpec
from schemas.suite import Suite

DECIDED = frozenset({"better", "equivalent"})


@dataclass(frozen=True)
class Round:
    repeats: int  # repeats planned so far
    undecided: tuple[str, ...]  # 'classification time: inconclusive — about 9 repeats per side would decide'


def undecided(run: RunDir, margin: float, keep_contaminated: bool) -> tuple[str, ...]:
    data = load_run(run.root)
    final = final_frame(metrics_frame(data), keep_contaminated)
    return tuple(
        f"{row.task} {row.criterion}{f' {row.arm}' if row.arm else ''}: {row.verdict.text}"
        for row in winner_rows(final, margin=margin, baseline=data.baseline)
        if row.verdict is not None and row.verdict.outcome not in DECIDED
    )


def planned_repeats(specs: list[JobSpec]) -> int:
    return max((s.repeat for s in specs), default=-1) + 1


def next_round(
    run: RunDir,
    suite: Suite,
    device: Device,
    specs: list[JobSpec],
    cores: int | None = None,
    count: int = 1,
) -> list[JobSpec]:
    """The specs of `count` more repeats of every task and arm (never past the suite's most),
    written into the run directory and appended to its plan (a resumed run finds them like the first
    ones). The threads are the first specs' (a resume on another slot layout must not change them)."""
    repeat = planned_repeats(specs)
    last = min(repeat + max(1, count), suite.most_repeats)
    choices = {t: planning.DatasetChoice(**c) for t, c in run.meta().get("datasets", {}).items()}
    cores = specs[0].threads.intra_op if specs and suite.intra_op_threads == "auto" else cores
    added = planning.plan(suite, choices, device, range(repeat, max(last, repeat + 1)), cores)
    for spec in added:
        run.write_spec(spec)
    run.update_meta(plan=[s.spec_id for s in [*specs, *added]], jobs=len(specs) + len(added))
    return added


def say_stop(state: Round, suite: Suite, log: Callable[[str], None]) -> dict[str, object]:
    """Log where the auto repeats stopped and return what run.json records of it."""
    if not state.undecided:
        log(f"repeats auto: every verdict decided after {state.repeats} repeats")
    else:
        log(f"[yellow]repeats auto[/]: stopped at the maximum of {suite.most_repeats} repeats with "
            f"{len(state.undecided)} verdict(s) undecided: " + "; ".join(state.undecided))  # fmt: skip
    return {"repeats": state.repeats, "max_repeats": suite.most_repeats, "undecided": list(state.undecided)}
