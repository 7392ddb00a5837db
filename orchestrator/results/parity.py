"""Parity table: evidence that paired jobs really started from the same point (fairness rule 8).

Jobs are paired within a task when they share seed and repeat but differ in arm (framework or
compile mode: schemas.suite.Arm): every pair of arms, so a framework's jit arm is held to its
standard one as to the other frameworks. A pair
passes when dataset, initial weights and batch order hashes and the parameter counts are equal, the
initial training losses agree to INITIAL_LOSS_RTOL, the mean loss of the first few batches to
FIRST_STEPS_RTOL and the epoch-1 running losses to EPOCH1_RTOL.

Over a long epoch (1,875 steps on full MNIST) float32 rounding differences between the frameworks'
kernels grow chaotically, so an epoch-1 difference above EPOCH1_RTOL after first steps that agree is
shown as "drift" (a warning, explained), not as a failure; without first-steps evidence it fails.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import get_args

from orchestrator.results._format import MISSING, Table, fmt, fmt_csv
from orchestrator.results.tidy import Job, RunData
from schemas.common import FIRST_STEPS
from schemas.job import Framework, Workload
from schemas.layers import Dropout
from schemas.report import Fairness

# Same init, same data, same batch order: float32 reduction order is the only difference left.
INITIAL_LOSS_RTOL = 1e-5
# Ten Adam steps: a different learning rate, epsilon, loss or batch order shows up far above this.
FIRST_STEPS_RTOL = 1e-4
# One epoch of Adam updates lets rounding differences grow; 1e-3 still catches a real mismatch.
EPOCH1_RTOL = 1e-3


def rel_diff(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|); 0 when both are 0."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0.0 else abs(a - b) / scale


@dataclass(frozen=True)
class ParityRow:
    task: str
    repeat: int
    seed: int
    framework_a: str  # the arm's label (the framework's name for its standard execution)
    framework_b: str
    params_equal: bool | None
    initial_loss_rel_diff: float
    first_steps_rel_diff: float
    epoch1_rel_diff: float
    init_equal: bool | None
    batch_order_equal: bool | None
    dataset_equal: bool | None
    check: str  # "pass", "FAIL: ...", "n/a: ..."

    @property
    def failed(self) -> bool:
        return self.check.startswith("FAIL")


def _epoch1(job: Job) -> float:
    if job.report is None:
        return math.nan
    for rec in job.report.epochs:
        if rec.epoch == 1:
            return rec.train_loss_running
    return math.nan


def _timed_work_differs(fa: Fairness, fb: Fairness) -> list[str]:
    """The same work in both timed regions: the same host waits per step and the same float32 mode
    (reports from before these fields were recorded say nothing, and are not failed for it)."""
    failures = []
    if fa.host_syncs is not None and fb.host_syncs is not None and fa.host_syncs != fb.host_syncs:
        failures.append(f"host syncs differ ({fa.host_syncs} vs {fb.host_syncs})")
    if fa.tf32_applied and fb.tf32_applied and fa.tf32_applied != fb.tf32_applied:
        failures.append(f"float32 mode differs ({fa.tf32_applied} vs {fb.tf32_applied})")
    return failures


def dropout_rate(workload: Workload) -> float:
    """The largest dropout rate of the network (0: none). With masks drawn by each framework, parity
    of the training losses is undefined; the initial loss and the setup are still checked."""
    return max((layer.rate for layer in workload.layers if isinstance(layer, Dropout)), default=0.0)


def _compare(task: str, a: Job, b: Job) -> ParityRow:
    assert a.spec is not None and b.spec is not None
    fa = a.report.fairness if a.report else None
    fb = b.report.fairness if b.report else None
    key = (task, a.spec.repeat, a.spec.seed, str(a.arm), str(b.arm))
    if fa is None or fb is None:
        missing = [j for j, f in ((a, fa), (b, fb)) if f is None]
        why = ", ".join(f"{j.arm} {j.status}, no fairness manifest" for j in missing)
        return ParityRow(*key, None, math.nan, math.nan, math.nan, None, None, None, f"n/a: {why}")
    params = fa.param_count == fb.param_count
    init = fa.init_weights_sha256 == fb.init_weights_sha256
    order = fa.batch_order_sha256 == fb.batch_order_sha256
    data = fa.dataset_sha256 == fb.dataset_sha256
    loss0 = rel_diff(fa.initial_train_loss, fb.initial_train_loss)
    loss1 = rel_diff(_epoch1(a), _epoch1(b))
    first = math.nan
    if fa.first_steps_loss is not None and fb.first_steps_loss is not None:
        first = rel_diff(fa.first_steps_loss, fb.first_steps_loss)
    failures = [name for name, ok in (
        ("param count", params), ("init weights", init), ("batch order", order),
        ("dataset", data), (f"initial loss > {INITIAL_LOSS_RTOL:g}", loss0 <= INITIAL_LOSS_RTOL),
    ) if not ok]  # fmt: skip
    masks = dropout_rate(a.spec.workload)
    if first > FIRST_STEPS_RTOL and not masks:
        failures.append(f"first-steps loss > {FIRST_STEPS_RTOL:g}")
    failures += _timed_work_differs(fa, fb)
    drift = ""
    if masks:  # each framework draws its own dropout masks: training losses are not expected to agree
        drift = f"pass, before training only: dropout (rate {masks:g}) masks differ per framework"
    elif math.isnan(loss1):
        drift = "n/a: no epoch 1"
    elif loss1 > EPOCH1_RTOL and math.isnan(first):
        failures.append(f"epoch-1 loss > {EPOCH1_RTOL:g}")
    elif loss1 > EPOCH1_RTOL:
        drift = f"drift: epoch-1 loss > {EPOCH1_RTOL:g} after first steps agreed (float32 rounding grows)"
    check = "FAIL: " + ", ".join(failures) if failures else (drift or "pass")
    return ParityRow(*key, params, loss0, first, loss1, init, order, data, check)


def parity_rows(run: RunData) -> list[ParityRow]:
    """Every pair of arms sharing task, seed and repeat (first job by spec id on a clash)."""
    groups: dict[tuple[str, int, int], dict[str, Job]] = {}
    for job in sorted(run.jobs, key=lambda j: j.spec_id):
        if job.spec is None:
            continue
        key = (job.spec.workload.task, job.spec.repeat, job.spec.seed)
        groups.setdefault(key, {}).setdefault(str(job.arm), job)
    rows = []
    for (task, _, _), by_fw in sorted(groups.items()):
        for fa, fb in itertools.combinations(sorted(by_fw), 2):
            rows.append(_compare(task, by_fw[fa], by_fw[fb]))
    return rows


def _yes_no(x: bool | None) -> str:
    return MISSING if x is None else ("yes" if x else "NO")


def _sides(rows: list[ParityRow]) -> str:
    """What the pairs differ in: 'frameworks', or 'arms' once an arm is more than its framework."""
    frameworks = set(get_args(Framework))
    plain = all(r.framework_a in frameworks and r.framework_b in frameworks for r in rows)
    return "frameworks" if plain else "arms (every pair: framework x compile mode)"


def parity_table(rows: list[ParityRow]) -> Table:
    headers = (
        "task", "repeat", "seed", "A", "B", "params equal", "initial loss rel. diff",
        "first-steps loss rel. diff", "epoch-1 loss rel. diff", "init weights equal", "batch order equal", "dataset equal",
        "check",
    )  # fmt: skip
    csv_headers = (
        "task", "repeat", "seed", "framework_a", "framework_b", "params_equal",
        "initial_loss_rel_diff", "first_steps_rel_diff", "epoch1_rel_diff", "init_weights_equal", "batch_order_equal",
        "dataset_equal", "check",
    )  # fmt: skip
    display, raw = [], []
    for r in rows:
        common = (r.task, str(r.repeat), str(r.seed), r.framework_a, r.framework_b)
        display.append((
            *common, _yes_no(r.params_equal), fmt(r.initial_loss_rel_diff),
            fmt(r.first_steps_rel_diff), fmt(r.epoch1_rel_diff), _yes_no(r.init_equal), _yes_no(r.batch_order_equal),
            _yes_no(r.dataset_equal), r.check,
        ))  # fmt: skip
        raw.append((
            *common, fmt_csv(r.params_equal), fmt_csv(r.initial_loss_rel_diff),
            fmt_csv(r.first_steps_rel_diff), fmt_csv(r.epoch1_rel_diff), fmt_csv(r.init_equal), fmt_csv(r.batch_order_equal),
            fmt_csv(r.dataset_equal), r.check,
        ))  # fmt: skip
    n_fail = sum(r.failed for r in rows)
    caption = (
        f"Jobs paired within a task by seed and repeat across {_sides(rows)}. Pass: equal parameter "
        "counts and dataset / initial-weights / batch-order sha256, initial training loss "
        f"relative difference <= {INITIAL_LOSS_RTOL:g}, mean loss of the first {FIRST_STEPS} batches "
        f"<= {FIRST_STEPS_RTOL:g}, epoch-1 running loss <= {EPOCH1_RTOL:g} (relative difference = "
        "|a - b| / max(|a|, |b|)). Drift: the epoch-1 difference is larger although the first steps "
        "agreed; float32 rounding differences between the frameworks' kernels grow over a long epoch. "
        + ("Dropout: each framework draws its own masks, so only what comes before training (setup and "
           "initial loss) is checked for a network with a dropout rate above 0. "
           if any("dropout" in r.check for r in rows) else "")
        + f"{len(rows)} pairs, {n_fail} failing, {sum(r.check.startswith('drift') for r in rows)} drifting."
    )
    return Table(
        name="parity",
        title="Parity check",
        caption=caption,
        headers=headers,
        rows=tuple(display),
        csv_headers=csv_headers,
        csv_rows=tuple(raw),
        row_marks=tuple("fail" if r.failed else ("warn" if r.check != "pass" else "") for r in rows),
    )
