"""collect.finalize: success needs a valid ok report AND a clean exit; everything else says why."""

from __future__ import annotations

from orchestrator.backends.base import Outcome
from orchestrator.collect import finalize, synthetic_report
from schemas import JobSpec
from tests.jobs import spec_dict


def _spec(device: dict | None = None) -> JobSpec:
    doc = spec_dict("fake")
    if device:
        doc["device"] = device
    return JobSpec.model_validate(doc)


def _ok_report(spec: JobSpec, path) -> None:
    report = synthetic_report(spec, "ok", "")
    path.write_text(report.model_copy(update={"error": None}).model_dump_json())


def test_clean_exit_and_ok_report_is_ok(tmp_path):
    spec, path = _spec(), tmp_path / "r.json"
    _ok_report(spec, path)
    report = finalize(spec, Outcome(0, 1.0, False), path, tmp_path / "log")
    assert report.status == "ok" and report.exit_code == 0 and report.wall_seconds == 1.0


def test_no_report_and_a_signal_is_crashed(tmp_path):
    spec, path = _spec(), tmp_path / "r.json"
    report = finalize(spec, Outcome(-9, 1.0, False), path, tmp_path / "log")
    assert report.status == "crashed" and "killed by SIGKILL" in report.error.message
    assert path.exists()


def test_oom_killed_and_timeout_take_precedence(tmp_path):
    spec = _spec()
    assert (
        finalize(spec, Outcome(137, 1.0, False, oom_killed=True), tmp_path / "a.json", tmp_path / "l").status
        == "oom"
    )
    assert finalize(spec, Outcome(-9, 9.0, True), tmp_path / "b.json", tmp_path / "l").status == "timeout"


def test_a_report_for_another_spec_is_not_trusted(tmp_path):
    spec, other, path = (
        _spec(),
        JobSpec.model_validate({**spec_dict("fake"), "seed": 99}),
        tmp_path / "r.json",
    )
    _ok_report(other, path)
    report = finalize(spec, Outcome(0, 1.0, False), path, tmp_path / "log")
    assert report.status == "crashed" and "is for spec" in report.error.message


def test_a_gpu_job_that_saw_no_gpu_is_an_error(tmp_path):
    spec, path = _spec({"kind": "gpu", "gpu_ids": [0]}), tmp_path / "r.json"
    _ok_report(spec, path)
    report = finalize(spec, Outcome(0, 1.0, False), path, tmp_path / "log")
    assert report.status == "error" and "saw none" in report.error.message


def test_a_gpu_job_that_ran_on_another_gpu_than_placed_is_an_error(tmp_path):
    from schemas.report import EnvInfo, GpuInfo, Placement

    spec, path = _spec({"kind": "gpu"}), tmp_path / "r.json"
    env = EnvInfo(framework="pytorch", framework_version="x", python="3", platform="p", cpu_model="c",
                  cpu_count=2, numpy="2", threads={"intra_op": 1}, env_hash="h",
                  gpu=GpuInfo(name="H200", gpu_uuid="GPU-bbbb"))  # fmt: skip
    report = synthetic_report(spec, "ok", "").model_copy(update={"error": None, "env": env})
    path.write_text(report.model_dump_json())
    placed = Placement(backend="venv", slot=0, gpus=("GPU-aaaa",))
    judged = finalize(spec, Outcome(0, 1.0, False), path, tmp_path / "log", placed)
    assert (
        judged.status == "error"
        and "placed on GPU-aaaa but the runner ran on GPU-bbbb" in judged.error.message
    )
    path.write_text(report.model_dump_json())
    same = Placement(backend="venv", slot=0, gpus=("GPU-bbbb",))
    assert finalize(spec, Outcome(0, 1.0, False), path, tmp_path / "log", same).status == "ok"
