"""The whole GPU path on a GPU host (marked `gpu`): skipped, with the reason, where nvidia-smi lists
no GPU; BENCH_REQUIRE_GPU=1 makes a skip a failure (a GPU host's CI).

What runs on CPU-only machines instead: tests/unit/test_gpu_placement.py (slots, rotation, modes,
spec ids), tests/unit/test_gpu_slots.py, tests/unit/test_cuda_stack.py (driver check, CUDA pins).
What was run on hardware: `make gpu-smoke` (tools/gpu_smoke.py; docs/gpu-smoke-h200.log).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.gpu_slots import discover_gpus

ROOT = Path(__file__).resolve().parents[2]
GPUS = discover_gpus()
pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def _bench(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def _reports(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "reports").glob("*.json"))]


def test_gpu_smoke_passes(tmp_path):
    """PyTorch in this environment, on the GPU, checked against nvidia-smi, CUDA events, float64."""
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "tools/gpu_smoke.py", "--out", str(tmp_path / "smoke")], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.frameworks
@pytest.mark.parametrize("backend", ["venv", pytest.param("docker", marks=pytest.mark.docker)])
def test_both_frameworks_on_the_gpu(tmp_path, backend):
    """Both frameworks' CUDA builds (venvs from requirements-cuda.txt, or the cuda images), one job
    per GPU, each report naming the GPU it was placed on; parity holds on the GPU too."""
    out = tmp_path / "run"
    proc = _bench("orchestrate", "--quick", "--backend", backend, "--gpus", "all", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    uuids = {g.uuid for g in GPUS}
    for r in _reports(out):
        assert r["status"] == "ok"
        assert r["env"]["gpu"]["gpu_uuid"] in uuids and r["env"]["gpu"]["gpu_uuid"] in r["placement"]["gpus"]
        assert r["fairness"]["tf32_applied"] == "matmul ieee, cudnn.conv ieee"
        assert r["gpu_telemetry"]["memory_peak_bytes"] > 0 and r["gpu_telemetry"]["source"] == "nvml"
    assert "FAIL" not in (out / "tables" / "parity.csv").read_text()


@pytest.mark.skipif(len(GPUS) < 2, reason="throughput mode needs at least two GPUs")
def test_throughput_mode_uses_every_gpu_one_job_each(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    proc = _bench("orchestrate", "--quick", "--backend", "current", "--frameworks", "pytorch", "--repeats",
                  str(2 * len(GPUS)), "--gpu-mode", "throughput", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
    spans: dict[str, list[tuple[str, str]]] = {}
    for r in _reports(out):
        assert r["placement"]["mode"] == "throughput"
        spans.setdefault(r["placement"]["gpus"][0], []).append((r["started_at"], r["finished_at"]))
    assert len(spans) == len(GPUS)
    for runs in spans.values():
        runs.sort()
        assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))
