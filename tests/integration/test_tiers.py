"""Tier "tuned" (schemas/tiers.py) in the real runners: the same maths as "matched", its settings
read back into the fairness manifest. A tuned runner that changed the arithmetic (a skipped step, a
reordered batch, an optimizer step per chunk instead of per batch) fails the parity bounds here.

1,100 rows at batch 32: one chunk of STEPS_PER_EXECUTION (32) batches, a smaller chunk of 2 and a
last partial batch of 12 rows, so every path of a tuned epoch runs."""

from __future__ import annotations

import pytest

from runners import FRAMEWORKS
from schemas import JobSpec, RunReport
from schemas.tiers import STEPS_PER_EXECUTION, TUNED
from tests.integration.test_layer_parity import network_spec, parity_problems
from tests.jobs import make_spec

pytestmark = pytest.mark.frameworks

ROWS = 1100
assert ROWS // 32 > STEPS_PER_EXECUTION and ROWS % 32  # a full chunk, a short one, a partial batch

# Runners whose tuned tier changes how an MLP runs on a CPU (the others say it ran as matched).
TUNES_AN_MLP = ("tensorflow", "jax", "keras-jax")


def _tiers(run_runner, spec: JobSpec) -> tuple[RunReport, RunReport]:
    reports = []
    for tier in ("matched", "tuned"):
        result = run_runner(spec.model_copy(update={"tier": tier}))
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.report is not None and result.report.status == "ok", result.report
        reports.append(result.report)
    return reports[0], reports[1]


def _same_maths(matched: RunReport, tuned: RunReport) -> None:
    assert parity_problems(matched, tuned) == []
    # Epoch 2 as well: the tuned loop carries its state from chunk to chunk and epoch to epoch.
    a, b = matched.epochs[1].train_loss_running, tuned.epochs[1].train_loss_running
    assert abs(a - b) <= 1e-3 * abs(a), (a, b)
    assert tuned.fairness.host_syncs == {"per_step": 0, "per_epoch": 1}
    assert tuned.fairness.first_steps_samples == matched.fairness.first_steps_samples


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tuned_keeps_the_maths_and_says_what_it_added(run_runner, framework):
    spec = make_spec(framework, "classification", epochs=2, max_train_samples=ROWS, max_val_samples=200)
    matched, tuned = _tiers(run_runner, spec)
    _same_maths(matched, tuned)
    assert matched.fairness.tier == "matched" and matched.fairness.tuning == ()
    assert tuned.fairness.tier == "tuned"
    if framework in TUNES_AN_MLP:
        assert tuned.fairness.tuning == TUNED[framework]
        assert tuned.fairness.execution != matched.fairness.execution
    else:
        assert tuned.fairness.tuning == ()
        assert any("so it ran as its matched tier" in note for note in tuned.fairness.notes)


@pytest.mark.parametrize("framework", TUNES_AN_MLP)
def test_tuned_compiled_keeps_the_maths(run_runner, framework):
    spec = make_spec(framework, "classification", epochs=2, max_train_samples=ROWS, max_val_samples=200)
    matched, tuned = _tiers(run_runner, spec.model_copy(update={"compile": "jit"}))
    _same_maths(matched, tuned)
    assert tuned.fairness.tuning == TUNED[framework]


def test_pytorch_tuned_conv_net_runs_channels_last(run_runner):
    spec = network_spec("pytorch", "conv-pool-flatten").model_copy(update={"workload": network_spec(
        "pytorch", "conv-pool-flatten").workload.model_copy(update={"epochs": 2, "max_train_samples": ROWS})})  # fmt: skip
    matched, tuned = _tiers(run_runner, spec)
    _same_maths(matched, tuned)
    assert tuned.fairness.tuning == TUNED["pytorch"]
