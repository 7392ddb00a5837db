"""GPU placement without a GPU: 8 (or 2) fake GPUs, the real planner, executor and fake runner.

What must hold on any GPU host (issue: GPU-grade): one job per GPU at a time in either mode, each
slot's CPUs its own, frameworks rotated over the GPUs across repeats, and spec ids that do not depend
on how many GPUs the host has (the placement is in the report, not in the spec).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import devices
from orchestrator import plan as planning
from orchestrator.cli import app
from orchestrator.executors import local
from orchestrator.gpu_slots import Gpu, Slot, schedule
from schemas.common import ROOT
from schemas.job import Device
from tests.unit._factories import make_spec


def _gpus(n: int) -> list[Gpu]:
    return [Gpu(i, f"GPU-{i:04d}", f"00000000:{i + 16:02X}:00.0", i * 2 // n) for i in range(n)]


def _fake_host(monkeypatch: pytest.MonkeyPatch, n: int) -> list[Gpu]:
    """n fake GPUs wherever the orchestrator asks nvidia-smi, on this machine's two cores."""
    gpus = _gpus(n)
    monkeypatch.setattr(devices, "discover_gpus", lambda: gpus)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(local, "allowed_cpus", lambda: {0, 1})
    return gpus


def _orchestrate_fake(out: Path, *options: str):  # type: ignore[no-untyped-def]
    suite = str(ROOT / "tests/suites/fake.toml")
    return CliRunner().invoke(
        app, ["orchestrate", "--suite", suite, "--backend", "venv", *options, "--out", str(out)]
    )


def _executor(n: int, mode: str) -> local.LocalExecutor:
    executor = local.LocalExecutor(mode)  # type: ignore[arg-type]
    per = 64 // n
    executor.slots = [Slot(g, tuple(range(i * per, (i + 1) * per))) for i, g in enumerate(_gpus(n))]
    return executor


def _paper_specs(repeats: int) -> list:
    return [
        make_spec(fw, task, repeat)
        for repeat in range(repeats)
        for task in ("classification", "regression")
        for fw in ("pytorch", "tensorflow")
    ]


@pytest.mark.parametrize("mode", ["exclusive", "throughput"])
def test_eight_gpus_one_job_per_gpu_disjoint_cpus_rotation(mode):
    executor, specs = _executor(8, mode), _paper_specs(16)
    placed = executor.placements(specs, "venv")
    assert all(p.mode == mode and len(p.gpus) == 1 for p in placed)
    # Never two jobs on one GPU at once: every job of a GPU is in the same lane, and lanes are the
    # only things that run side by side.
    lanes = schedule([p.slot or 0 for p in placed], 8, mode)
    for lane in lanes:
        if mode == "throughput":
            assert len({placed[i].gpus for i in lane}) <= 1
    assert sorted(i for lane in lanes for i in lane) == list(range(len(specs)))
    assert len(lanes) == (1 if mode == "exclusive" else 8)
    # Each slot's CPUs are its own.
    cpus = {p.gpus[0]: set(p.cpus) for p in placed}
    assert len(cpus) == 8
    for a in cpus:
        for b in cpus:
            assert a == b or not cpus[a] & cpus[b]
    # Rotation: every framework visits every GPU; within a repeat and task the frameworks differ.
    for fw in ("pytorch", "tensorflow"):
        assert {p.gpus[0] for s, p in zip(specs, placed, strict=True) if s.framework == fw} == set(cpus)
    by_round: dict[tuple[int, str], set[str]] = {}
    for s, p in zip(specs, placed, strict=True):
        by_round.setdefault((s.repeat, s.workload.task), set()).add(p.gpus[0])
    assert all(len(g) == 2 for g in by_round.values())
    # Balanced: per-GPU job counts differ by at most one.
    counts = [sum(p.slot == k for p in placed) for k in range(8)]
    assert max(counts) - min(counts) <= 1


def test_cpu_jobs_are_pinned_to_as_many_cpus_as_threads(monkeypatch):
    monkeypatch.setattr(local, "allowed_cpus", lambda: {3, 5, 7, 9})
    placed = local.LocalExecutor().placements([make_spec("pytorch")], "venv")
    n = make_spec("pytorch").threads.intra_op
    assert placed[0].cpus == (3, 5, 7, 9)[:n] and placed[0].gpus == () and placed[0].slot is None


def test_spec_ids_do_not_depend_on_the_hosts_gpu_count():
    suite = planning.load_suite(ROOT / "suites" / "paper.toml")
    choices = {t.name: planning.DatasetChoice(t.datasets[0], "test") for t in suite.tasks}
    one = planning.plan(suite, choices, Device(kind="gpu", gpu_ids=(0,)), cores=4)
    eight = planning.plan(suite, choices, Device(kind="gpu", gpu_ids=tuple(range(8))), cores=4)
    assert [s.spec_id for s in one] == [s.spec_id for s in eight]
    assert all(s.device.gpu_ids == () for s in one)
    # "auto" threads are a slot's cores, not the host's
    assert all(s.threads.intra_op == 4 for s in one) == (suite.intra_op_threads == "auto")


def _when(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize("mode", ["exclusive", "throughput"])
def test_fake_gpus_end_to_end(tmp_path, monkeypatch, mode):
    """Two fake GPUs (this machine has two cores: one each), the fake runner, the real executor:
    every report carries its placement, and jobs on one GPU never overlap in time."""
    _fake_host(monkeypatch, 2)
    monkeypatch.setenv("BENCH_FAKE_GPU", "1")
    monkeypatch.setenv("BENCH_FAKE_EPOCH_SECONDS", "0.05")
    out = tmp_path / "run"
    result = _orchestrate_fake(out, "--gpu-mode", mode, "--repeats", "3")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "run.json").read_text())
    assert meta["gpu_mode"] == mode and [s["cpus"] for s in meta["slots"]] == ["0", "1"]
    reports = [json.loads(p.read_text()) for p in (out / "reports").glob("*.json")]
    assert len(reports) == 6 and all(r["status"] == "ok" for r in reports)
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in reports:
        placement = r["placement"]
        assert placement["mode"] == mode and placement["backend"] == "venv"
        assert r["env"]["gpu"]["gpu_uuid"] == placement["gpus"][0]
        assert placement["cpus"] == [int(placement["gpus"][0][-1])]
        spans.setdefault(placement["gpus"][0], []).append((_when(r["started_at"]), _when(r["finished_at"])))
    assert set(spans) == {"GPU-0000", "GPU-0001"}  # both GPUs used (rotation)
    for runs in spans.values():
        runs.sort()
        assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))


def test_a_gpu_host_gets_the_cuda_builds_of_both_frameworks():
    """--gpus on a GPU host: the venv backend builds (and resume compares) the CUDA pins, never the
    CPU ones that made every TensorFlow job fail with "TensorFlow sees none"."""
    from orchestrator import envs
    from orchestrator.backends import select_backend
    from orchestrator.devices import variant_for

    variant = variant_for(Device(kind="gpu"))
    assert variant == "cuda"
    backend = select_backend("venv", ["pytorch", "tensorflow"], lambda _: None, variant, True)
    for fw in ("pytorch", "tensorflow"):
        assert backend.environment_id(fw) == envs.lock_hash(fw, "cuda") != envs.lock_hash(fw, "cpu")
        assert "cuda" in envs.lock_file(fw, "cuda").name
    assert backend.cuda_majors(["pytorch", "tensorflow"]) == {"pytorch": 12, "tensorflow": 12}


def test_the_driver_is_checked_before_any_job(tmp_path, monkeypatch):
    _fake_host(monkeypatch, 1)
    from orchestrator import run_suite

    monkeypatch.setattr(run_suite, "driver_version", lambda: "470.57.02")
    monkeypatch.setattr(
        "orchestrator.backends.venv.VenvBackend.cuda_majors", lambda self, fws: {"pytorch": 12}
    )
    out = tmp_path / "run"
    result = _orchestrate_fake(out)
    assert result.exit_code == 2
    assert "driver 470.57.02 is too old for pytorch (CUDA 12 needs >= 525.60.13)" in result.output
    assert len(result.output.strip().splitlines()) == 2 and not out.exists()  # backend line + the error


def test_the_callers_cuda_visible_devices_is_honoured(monkeypatch):
    """On a shared host `CUDA_VISIBLE_DEVICES=2,GPU-0005 bench orchestrate` uses those GPUs only."""
    _fake_host(monkeypatch, 8)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,GPU-0005")
    assert devices.visible_gpus() == [2, 5]
    executor = local.LocalExecutor()
    assert executor.device("all")[0].gpu_ids == (2, 5) and len(executor.slots) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert executor.device("all")[0].kind == "cpu"
