"""Every layer kind and the autoencoder task, run by every real runner on the same spec: the same
numbers (issue bounds: initial loss 1e-5, first 10 batches 1e-4, epoch-1 mean loss 1e-3, relative).

The transposed-kernel test shows the check has teeth: a PyTorch runner that lays its conv kernels
out (out, in, kw, kh) instead of (out, in, kh, kw) computes another function from the same numbers,
and parity says so.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from typing import Any

import pytest

from orchestrator import envs
from runners import FRAMEWORKS
from schemas import JobSpec, RunReport
from tests.integration.conftest import ROOT
from tests.jobs import spec_dict

pytestmark = pytest.mark.frameworks


def conv(filters: int, kernel: int, padding: str = "same", stride: int = 1, act: str = "relu",
         bias: bool = True) -> dict[str, Any]:  # fmt: skip
    return {"kind": "conv2d", "filters": filters, "kernel": kernel, "stride": stride, "padding": padding,
            "activation": act, "bias": bias}  # fmt: skip


def dense(units: int, act: str = "relu") -> dict[str, Any]:
    return {"units": units, "activation": act}


POOL, FLAT = {"kind": "max_pool2d", "pool": 2}, {"kind": "flatten"}

NETWORKS: dict[str, dict[str, Any]] = {
    # LeNet-like: symmetric "same" padding, "valid", pooling, the flatten order into a dense layer
    "conv-pool-flatten": {"layers": [conv(4, 5), POOL, conv(8, 3, "valid"), POOL, FLAT, dense(32), dense(10, "linear")]},
    # stride 2 with a 3x3 kernel on 28x28: TensorFlow pads 0 before and 1 after (asymmetric)
    "strided-same": {"layers": [conv(6, 3, stride=2), {"kind": "max_pool2d", "pool": 3, "stride": 2}, FLAT,
                                dense(10, "linear")]},  # fmt: skip
    # batch_norm on an image (per channel) and on features after flatten (per feature, reordered).
    # No parameter is cancelled by a later batch_norm (a bias or beta right before one): Adam would
    # turn its round-off gradient into full steps (see schemas/layers.py: Conv2D.bias). Epsilon 1e-3
    # (Keras's default): at 1e-5 the features of nearly dead ReLUs (variance ~1e-8) are scaled up
    # ~300x and so is their round-off: 1.7e-4 apart after 10 steps, measured, in either framework's favour.
    "batch-norm": {"layers": [conv(4, 3, bias=False), {"kind": "batch_norm", "momentum": 0.9, "epsilon": 1e-3},
                              conv(4, 3), FLAT, {"kind": "batch_norm", "momentum": 0.99, "epsilon": 1e-3},
                              dense(32), dense(10, "linear")]},  # fmt: skip
    # dropout at rate 0: each framework draws its own masks, so parity is only defined there
    "dropout-0": {"layers": [dense(64), {"kind": "dropout", "rate": 0.0}, dense(10, "linear")]},
    "autoencoder": {"task": "autoencoder", "loss": "mse", "code_layer": 1,
                    "layers": [dense(64), dense(16), dense(64), dense(784, "linear")]},  # fmt: skip
}


def network_spec(framework: str, name: str) -> JobSpec:
    doc = spec_dict(framework, "classification", epochs=1, max_train_samples=320, max_val_samples=200)
    doc["workload"].update(NETWORKS[name])  # an autoencoder's task and loss replace classification's
    return JobSpec.model_validate(doc)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def parity_problems(a: RunReport, b: RunReport) -> list[str]:
    """What differs beyond the issue's bounds between two runners' reports of the same spec."""
    fa, fb = a.fairness, b.fairness
    problems = [f for f in ("dataset_sha256", "init_weights_sha256", "batch_order_sha256", "param_count")
                if getattr(fa, f) != getattr(fb, f)]  # fmt: skip
    checks = (
        ("initial loss", fa.initial_train_loss, fb.initial_train_loss, 1e-5),
        ("first 10 batches", fa.first_steps_loss, fb.first_steps_loss, 1e-4),
        ("epoch 1", a.epochs[0].train_loss_running, b.epochs[0].train_loss_running, 1e-3),
    )
    problems += [f"{what}: {x} vs {y}" for what, x, y, bound in checks if rel(x, y) > bound]
    return problems


@pytest.mark.parametrize("network", list(NETWORKS))
def test_every_runner_pair_agrees(run_runner, network):
    reports = {}
    for fw in FRAMEWORKS:
        result = run_runner(network_spec(fw, network))
        assert result.returncode == 0, result.stderr
        reports[fw] = result.report
    for a, b in itertools.combinations(FRAMEWORKS, 2):
        assert parity_problems(reports[a], reports[b]) == [], (a, b)
    if network == "autoencoder":
        for report in reports.values():
            ari = report.epochs[0].val_ari
            assert ari is not None and -1 <= ari <= 1
        aris = [r.epochs[0].val_ari for r in reports.values()]
        assert max(aris) - min(aris) < 0.05, aris  # codes agree closely, so do their clusters


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dropout_masks_follow_the_spec_seed(run_runner, framework):
    """The same spec gives the same numbers in every run, dropout included (masks seeded from the
    spec's seed: runners/fairness.dropout_seed; Keras's unseeded Dropout drew new masks per process).
    Masks differ between frameworks, so this is each runner against itself."""
    doc = network_spec(framework, "dropout-0").model_dump(mode="json")
    doc["workload"]["layers"][1]["rate"] = 0.3
    losses = []
    for _ in range(2):
        result = run_runner(JobSpec.model_validate(doc))
        assert result.returncode == 0, result.stderr[-2000:]
        losses.append((result.report.fairness.first_steps_loss, result.report.epochs[0].train_loss_running))
    assert losses[0] == losses[1], losses


# The PyTorch runner with its conv kernels laid out (out, in, kw, kh): the same shape, the wrong function.
TRANSPOSED = """
import sys
import runners.pytorch.network as network
network.KERNEL_AXES = (3, 2, 1, 0)
from runners import harness
sys.exit(harness.main("pytorch", sys.argv[1:]))
"""


def test_a_transposed_kernel_layout_fails_parity(run_runner, tmp_path, data_dir):
    spec = network_spec("pytorch", "conv-pool-flatten")
    good = run_runner(spec)
    reference = run_runner(network_spec("tensorflow", "conv-pool-flatten"))
    assert parity_problems(good.report, reference.report) == []
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    out = tmp_path / "transposed.json"
    proc = subprocess.run([str(envs.venv_python("pytorch")), "-c", TRANSPOSED, "--spec", str(tmp_path / "spec.json"),
                           "--out", str(out), "--data-dir", str(data_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    transposed = RunReport.model_validate_json(out.read_text())
    problems = parity_problems(transposed, reference.report)
    assert any(p.startswith("initial loss") for p in problems), problems
    print("transposed kernels:", problems, file=sys.stderr)
