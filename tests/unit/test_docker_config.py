"""The docker backend's pure parts, without an engine: container config, limits, labels, image
staleness, the staged build context, and backend selection when no engine answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import devices, envs
from orchestrator.backends import docker_images, select_backend
from orchestrator.backends.docker import (
    CONTAINER_UID,
    DockerBackendError,
    Limits,
    container_config,
    container_user,
    cpuset_for,
    is_leftover,
    parse_size,
    process_exit_code,
)
from orchestrator.backends.docker_images import ImageInfo
from orchestrator.backends.venv import VenvBackend
from orchestrator.cli import app
from schemas.job import Threads
from tests.jobs import make_spec, spec_dict

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ImageInfo("bench-pytorch:cpu", "sha256:" + "ab" * 32, (), "", 0, {})
MiB = 1024 * 1024


def config_for(spec, tmp_path: Path, **kw):  # type: ignore[no-untyped-def]
    args = {
        "spec_path": tmp_path / "spec.json",
        "data_dir": tmp_path / "data",
        "out_dir": tmp_path / "out",
        "limits": Limits(memory_bytes=512 * MiB),
        "cpu_count": 2,
        "labels": {"bench.run": "r1"},
        "user": "10001:10001",
    }
    args.update(kw)
    return container_config(spec, IMAGE, **args)


def test_job_container_is_isolated_and_limited(tmp_path):
    spec = make_spec("pytorch")
    c = config_for(spec, tmp_path)
    assert c["network_mode"] == "none"
    assert c["read_only"] is True and set(c["tmpfs"]) == {"/tmp"}
    assert c["cap_drop"] == ["ALL"] and c["security_opt"] == ["no-new-privileges:true"]
    assert c["mem_limit"] == c["memswap_limit"] == 512 * MiB
    assert c["pids_limit"] > 0 and c["shm_size"] > 0
    assert not c["user"].startswith("0")
    assert c["image"] == IMAGE.id
    assert c["entrypoint"] == ["python", "-m", "runners.pytorch"]
    assert c["environment"]["BENCH_IMAGE_DIGEST"] == IMAGE.id
    assert c["labels"] == {"bench.run": "r1", "bench.spec_id": spec.spec_id, "bench.framework": "pytorch"}
    assert "device_requests" not in c and c["environment"]["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert "auto_remove" not in c  # OOMKilled must be readable after the exit


def test_only_the_output_dir_is_mounted_writable(tmp_path):
    c = config_for(make_spec("tensorflow"), tmp_path)
    modes = {v["bind"]: v["mode"] for v in c["volumes"].values()}
    assert modes == {"/job/spec.json": "ro", "/data": "ro", "/out": "rw"}
    assert str((tmp_path / "out").resolve()) in c["volumes"]
    assert c["command"] == ["--spec", "/job/spec.json", "--out", "/out/report.json", "--data-dir", "/data"]


def test_gpu_job_gets_its_slot_gpu_and_cpus(tmp_path):
    doc = spec_dict("pytorch")
    doc["device"] = {"kind": "gpu"}
    from schemas import JobSpec
    from schemas.report import Placement

    placement = Placement(backend="docker", slot=1, gpus=("GPU-2222",), cpus=(8, 9, 10, 11, 13))
    c = config_for(JobSpec.model_validate(doc), tmp_path, placement=placement)
    assert c["device_requests"] == [
        {"driver": "nvidia", "device_ids": ["GPU-2222"], "capabilities": [["gpu"]]}
    ]
    assert c["cpuset_cpus"] == "8-11,13"  # the slot's CPUs, not the first N of the host
    assert c["environment"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert "NVIDIA_VISIBLE_DEVICES" not in c["environment"]


def test_pids_limit_grows_with_threads(tmp_path):
    """Threads count toward the pids limit: 192 intra-op threads on a large GPU VM must still start."""
    doc = spec_dict("tensorflow")
    doc["threads"] = {"intra_op": 192, "inter_op": 2}
    from schemas import JobSpec

    c = config_for(JobSpec.model_validate(doc), tmp_path)
    assert c["pids_limit"] >= 4 * 194 + 512
    assert config_for(make_spec("tensorflow"), tmp_path)["pids_limit"] == 1024


def test_sdk_accepts_the_config(tmp_path):
    """The docker SDK turns the config into an engine request without complaint (no engine needed)."""
    docker = pytest.importorskip("docker")
    from docker.models.containers import _create_container_args

    doc = spec_dict("pytorch")
    doc["device"] = {"kind": "gpu"}
    from schemas import JobSpec
    from schemas.report import Placement

    kwargs = config_for(
        JobSpec.model_validate(doc), tmp_path, placement=Placement(backend="docker", gpus=("0",))
    )
    kwargs.pop("name")
    body = _create_container_args({**kwargs, "version": docker.constants.DEFAULT_DOCKER_API_VERSION})
    host = body["host_config"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["Memory"] == host["MemorySwap"] == 512 * MiB
    assert host["DeviceRequests"][0]["DeviceIDs"] == ["0"]
    assert host["CpusetCpus"] == "0"


@pytest.mark.parametrize(
    ("intra", "cpus", "expected"), [(1, 2, "0"), (2, 2, "0-1"), (8, 2, "0-1"), (4, 16, "0-3")]
)
def test_cpuset_follows_intra_op_threads(intra, cpus, expected):
    assert cpuset_for(Threads(intra_op=intra, inter_op=1), cpus) == expected


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * MiB), ("8g", 8 * 1024 * MiB), ("1.5G", 1536 * MiB), ("4096", 4096), ("64MiB", 64 * MiB)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_rejects_garbage():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_exit_codes_of_signalled_containers_follow_subprocess():
    assert process_exit_code(137) == -9 and process_exit_code(143) == -15
    assert process_exit_code(0) == 0 and process_exit_code(1) == 1 and process_exit_code(2) == 2


def test_root_never_runs_the_job():
    assert container_user(0, 0) == f"{CONTAINER_UID}:{CONTAINER_UID}"
    assert container_user(1000, 1000) == "1000:1000"


def test_leftovers_are_stopped_or_orphaned_containers():
    dead_pid = 2**22 + 12345  # above pid_max: never alive
    mine = {"bench.run": "me", "bench.host": "h", "bench.pid": "1"}
    assert not is_leftover(mine, running=True, host="h", own_run="me")
    assert is_leftover({"bench.run": "old", "bench.host": "h"}, running=False, host="h", own_run="me")
    assert is_leftover({"bench.run": "old", "bench.host": "h", "bench.pid": str(dead_pid)}, True, "h", "me")
    import os

    live = {"bench.run": "other", "bench.host": "h", "bench.pid": str(os.getpid())}
    assert not is_leftover(live, running=True, host="h", own_run="me")
    assert not is_leftover({**live, "bench.host": "elsewhere"}, running=True, host="h", own_run="me")
    # a concurrent job (another Ray task on this node) whose container just stopped is not a leftover
    assert not is_leftover(live, running=False, host="h", own_run="me")


def test_labels_make_a_changed_checkout_stale():
    labels = docker_images.expected_labels("pytorch", "cpu")
    assert docker_images.staleness(labels, "pytorch", "cpu") is None
    assert "runners/ changed" in docker_images.staleness(
        {**labels, "bench.source_sha256": "0" * 64}, "pytorch", "cpu"
    )
    assert "requirements.txt changed" in docker_images.staleness(
        {**labels, "bench.requirements_sha256": "0" * 64}, "pytorch", "cpu"
    )
    assert docker_images.staleness(None, "pytorch", "cpu") is not None


def test_source_hash_sees_every_runner_file(tmp_path, monkeypatch):
    for rel in ("schemas/__init__.py", "runners/a.py", "runners/files/data.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    monkeypatch.setattr(docker_images, "ROOT", tmp_path)
    before = docker_images.source_sha256()
    (tmp_path / "runners/__pycache__").mkdir()
    (tmp_path / "runners/__pycache__/a.cpython-311.pyc").write_bytes(b"\0")
    assert docker_images.source_sha256() == before  # bytecode is not source
    (tmp_path / "runners/files/data.csv").write_text("changed")
    assert docker_images.source_sha256() != before


def test_cuda_variant_pins():
    assert envs.lock_file("tensorflow", "cuda").name == "requirements-cuda.txt"
    assert envs.lock_file("tensorflow", "cpu").name == "requirements.txt"
    # both frameworks have their own CUDA pins now (one CUDA major, and a lock hash of their own)
    assert envs.lock_file("pytorch", "cuda").name == "requirements-cuda.txt"
    assert envs.lock_hash("pytorch", "cuda") != envs.lock_hash("pytorch", "cpu")


def pins(path: Path) -> list[str]:
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def test_cuda_pins_match_the_cpu_pins():
    """Only the TensorFlow distribution differs between the variants' direct pins (plus NVML's
    bindings for the GPU telemetry): same versions everywhere."""
    cpu = pins(envs.input_file("tensorflow", "cpu"))
    cuda = [p for p in pins(envs.input_file("tensorflow", "cuda")) if not p.startswith("nvidia-ml-py==")]
    assert [p.replace("tensorflow-cpu==", "tensorflow[and-cuda]==") for p in cpu] == cuda


def test_staged_context_holds_only_what_the_image_needs(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"wheel")
    (wheels / "notes.txt").write_text("not a wheel")
    ca = tmp_path / "proxy.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    ctx = docker_images.stage_context("tensorflow", tmp_path / "ctx", wheels, ca)
    top = sorted(p.name for p in ctx.iterdir())
    assert top == [
        "Dockerfile",
        "ca",
        "requirements-cuda.in",
        "requirements-cuda.txt",
        "requirements.in",
        "requirements.txt",
        "src",
        "wheelhouse",
    ]
    assert sorted(p.name for p in (ctx / "src").iterdir()) == ["runners", "schemas"]
    assert (ctx / "src/runners/harness.py").exists() and not list(ctx.rglob("__pycache__"))
    assert sorted(p.name for p in (ctx / "wheelhouse").iterdir()) == [
        "README",
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]
    assert (ctx / "ca/ca-bundle.crt").read_text().startswith("-----BEGIN")
    bare = docker_images.stage_context("pytorch", tmp_path / "bare")
    assert [p.name for p in (bare / "wheelhouse").iterdir()] == ["README"]  # COPY never fails
    assert (ctx / "Dockerfile").read_bytes() == docker_images.DOCKERFILE.read_bytes()
    with pytest.raises(FileNotFoundError, match="no image for 'base'"):
        docker_images.stage_context("base", tmp_path / "none")


def test_one_dockerfile_serves_every_registered_runner_with_a_lock():
    """images/runner.Dockerfile is the only Dockerfile; a framework's image needs its lock only."""
    import runners

    assert sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "images").rglob("*Dockerfile*")) == [
        "images/runner.Dockerfile"
    ]
    assert docker_images.frameworks_with_images() == tuple(sorted(runners.FRAMEWORKS))
    assert not docker_images.has_image("fake") and not docker_images.has_image("base")
    text = docker_images.DOCKERFILE.read_text()
    # The torch block runs where the lock pins torch: the keras-torch lock as well as pytorch's.
    assert "grep -q '^torch==' \"$req\"" in text
    pins_torch = {
        fw
        for fw in runners.FRAMEWORKS
        for variant in ("cpu", "cuda")
        if any(line.startswith("torch==") for line in envs.lock_file(fw, variant).read_text().splitlines())
    }
    assert pins_torch == {"pytorch", "keras-torch"}
    for arg in ("FRAMEWORK", "RUNNER_MODULE", "VARIANT", "REQUIREMENTS_SHA256", "SOURCE_SHA256"):
        assert f"ARG {arg}" in text
    assert 'ENTRYPOINT ["/bin/sh", "-c", "exec python -m \\"$BENCH_RUNNER_MODULE\\" \\"$@\\"", "--"]' in text


def test_build_args_carry_the_labels():
    args = docker_images.build_args("pytorch", "cpu", "bench-base:bookworm", offline=True)
    assert args["BASE_IMAGE"] == "bench-base:bookworm" and args["OFFLINE"] == "1"
    assert args["SOURCE_SHA256"] == docker_images.source_sha256()
    assert "BASE_IMAGE" not in docker_images.build_args("pytorch", "cpu", None, offline=False)
    keras = docker_images.build_args("keras-torch", "cuda", None, offline=False)
    assert keras["FRAMEWORK"] == "keras-torch" and keras["RUNNER_MODULE"] == "runners.keras_torch"
    assert keras["REQUIREMENTS_SHA256"] == envs.lock_hash("keras-torch", "cuda")


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


def test_auto_is_venv_for_a_runner_without_image(no_engine):
    said: list[str] = []
    backend = select_backend("auto", ["fake"], said.append)
    assert isinstance(backend, VenvBackend)
    assert said == ["backend: venv (auto: no docker image exists for the fake runner)"]


def test_auto_is_venv_without_engine_and_says_why(no_engine):
    said: list[str] = []
    backend = select_backend("auto", ["tensorflow", "pytorch"], said.append)
    assert isinstance(backend, VenvBackend)
    assert said[0].startswith("backend: venv (auto: no Docker engine answered")


def test_explicit_docker_without_engine_is_one_line(no_engine):
    with pytest.raises(DockerBackendError, match="^--backend docker: no Docker engine answered"):
        select_backend("docker", ["pytorch"], print)


def test_gpu_ids_without_gpu_fail_before_any_job(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: [])
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["orchestrate", "--suite", str(ROOT / "tests/suites/fake.toml"), "--gpus", "0", "--out", str(out)],
    )
    assert result.exit_code == 2
    assert "--gpus 0: no NVIDIA GPU" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_gpu_id_that_is_not_there(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: [0])
    with pytest.raises(devices.DeviceError, match="GPU 3 is not present"):
        devices.resolve_device("0,3")
    assert devices.resolve_device("0")[0].gpu_ids == (0,)
    with pytest.raises(devices.DeviceError, match="must be all, none or a list"):
        devices.resolve_device("0,x")


def test_images_commands_without_engine(no_engine):
    result = CliRunner().invoke(app, ["images", "list"])
    assert result.exit_code == 1
    assert "no Docker engine answered" in result.output


def test_gpu_uuid_follows_cuda_visible_devices(monkeypatch):
    from runners.environment import nvidia_gpu_uuid

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1111,GPU-2222")
    assert nvidia_gpu_uuid(0) == "GPU-1111" and nvidia_gpu_uuid(1) == "GPU-2222"
    assert nvidia_gpu_uuid(2) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: unknown, not an error
    assert nvidia_gpu_uuid(0) is None


@pytest.mark.parametrize(("required", "code", "said"), [("1", 1, "may not skip"), ("", 0, "1 skipped")])
def test_docker_tests_may_not_skip_when_required(tmp_path, required, code, said):
    """CI's BENCH_REQUIRE_DOCKER=1 turns a skipping docker test into a failure (tests/conftest.py)."""
    import os
    import subprocess
    import sys

    (tmp_path / "test_needs_engine.py").write_text(
        "import pytest\n\n@pytest.mark.docker\ndef test_x():\n    pytest.skip('no engine')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(tmp_path / "test_needs_engine.py")],
        cwd=ROOT, env={**os.environ, "BENCH_REQUIRE_DOCKER": required}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert said in proc.stdout
