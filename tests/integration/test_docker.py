"""The docker backend against a real engine with the CPU runner images (`make images`).

They skip, with the reason, only where no engine answers or the images are not built; CI sets
BENCH_REQUIRE_DOCKER=1, which turns such a skip into a failure (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.backends.base import JobPaths, Outcome
from orchestrator.backends.docker import DockerBackend, Limits, container_config
from orchestrator.backends.docker_images import (
    EngineUnavailable,
    check_image,
    connect,
    frameworks_with_images,
    image_tag,
)
from orchestrator.collect import finalize
from schemas import JobSpec
from schemas.report import Placement, RunReport
from tests.jobs import make_spec, spec_dict

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, "-m", "orchestrator.cli"]
FRAMEWORKS = ("pytorch", "tensorflow")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    try:
        return connect()
    except EngineUnavailable as exc:
        pytest.skip(f"{exc}; start dockerd (CI: BENCH_REQUIRE_DOCKER=1 makes this a failure)")


@pytest.fixture(scope="module")
def images(client):  # type: ignore[no-untyped-def]
    problems = [p for fw in FRAMEWORKS if (p := check_image(client, fw, "cpu")[1])]
    if problems:
        pytest.skip("; ".join(problems) + ": run `make images` (docs/docker.md)")


@pytest.fixture
def backend(client, images):  # type: ignore[no-untyped-def]
    return DockerBackend(client=client, log=lambda _: None)


def leftovers(client, backend: DockerBackend) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        c["Id"] for c in client.api.containers(all=True, filters={"label": f"bench.run={backend.run_id}"})
    ]


def run_job(backend: DockerBackend, spec: JobSpec, root: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    root.mkdir(parents=True, exist_ok=True)
    paths = JobPaths(
        spec=root / "spec.json", report=root / "report.json", log=root / "job.log", data_dir=data_dir
    )
    paths.spec.write_text(spec.model_dump_json())
    events: list[dict] = []
    outcome = backend.launch(spec, paths, events.append, Placement(backend="docker"))
    return outcome, finalize(spec, outcome, paths.report, paths.log), events, paths.log.read_text()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_runner_in_container_reports_ok_with_image_digest(backend, client, data_dir, tmp_path, framework):
    spec = make_spec(framework, "regression", epochs=2)
    outcome, report, events, log = run_job(backend, spec, tmp_path / "job", data_dir)
    assert report.status == "ok", log
    assert outcome.exit_code == 0 and not outcome.timed_out and not outcome.oom_killed
    image = backend.image_for(framework)
    assert report.env.image_digest == image.digest and image.digest.startswith("sha256:")
    assert (
        report.env.lock_hash == image.labels["bench.requirements_sha256"] == backend.environment_id(framework)
    )
    assert [e["epoch"] for e in events] == [1, 2]
    assert '"event": "epoch"' in log and "# exit code 0" in log
    assert [p.name for p in (tmp_path / "job").iterdir() if p.name.startswith(".")] == []  # out dir gone
    assert leftovers(client, backend) == []


PROBE = r"""
import json, os, socket
result = {"uid": os.getuid(), "net": sorted(os.listdir("/sys/class/net"))}
for path in ("/data/x", "/job/x", "/x", "/opt/bench/x", "/opt/venv/x", "/etc/x", "/out/x", "/tmp/x"):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        result[path] = "written"
    except OSError as exc:
        result[path] = exc.strerror
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    result["connect"] = "connected"
except OSError as exc:
    result["connect"] = exc.strerror or str(exc)
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
result["CapEff"], result["NoNewPrivs"] = status["CapEff"].strip(), status["NoNewPrivs"].strip()
print("PROBE " + json.dumps(result))
"""


@pytest.mark.parametrize("framework", frameworks_with_images())
def test_every_image_runs_its_runner_alone(client, framework):  # type: ignore[no-untyped-def]
    """Every image built from images/runner.Dockerfile: its labels, user and ENV, and its own
    entrypoint (`/bin/sh -c 'exec python -m "$BENCH_RUNNER_MODULE" ...'`) reaching the runner, with
    no network and a read-only root as `docker run` alone would give it."""
    info, problem = check_image(client, framework, "cpu")
    if problem:
        pytest.skip(f"{problem}: run `make images` (docs/docker.md)")
    assert info is not None
    module = "runners." + framework.replace("-", "_")
    attrs = client.api.inspect_image(info.id)["Config"]
    assert info.labels["bench.framework"] == framework
    assert info.labels["org.opencontainers.image.title"] == f"bench {framework} runner"
    assert attrs["User"] == "10001:10001"
    assert f"BENCH_RUNNER_MODULE={module}" in attrs["Env"]
    out = client.containers.run(
        image_tag(framework, "cpu"), ["--help"], network_disabled=True, read_only=True, remove=True
    ).decode()
    assert "--spec" in out and "--out" in out, out
    # The arguments reach the runner (sh's $0 is "--"): argparse's usage error, exit status 2.
    from docker.errors import ContainerError

    with pytest.raises(ContainerError) as err:
        client.containers.run(
            image_tag(framework, "cpu"),
            ["--spec", "/job/spec.json"],
            network_disabled=True,
            read_only=True,
            remove=True,
            stderr=True,
        )
    assert err.value.exit_status == 2 and b"--out" in (err.value.stderr or b""), err.value


def test_job_container_is_sealed(backend, data_dir, tmp_path):
    """The very config a job gets, with a probe in place of the runner."""
    spec = make_spec("pytorch")
    spec_path, out = tmp_path / "spec.json", tmp_path / "out"
    spec_path.write_text(spec.model_dump_json())
    out.mkdir()
    out.chmod(0o777)
    config = container_config(
        spec,
        backend.image_for("pytorch"),
        spec_path=spec_path,
        data_dir=data_dir,
        out_dir=out,
        limits=backend.limits,
        cpu_count=backend.cpu_count,
        labels=backend.labels,
        user="10001:10001",
    )
    config.update(entrypoint=["python", "-c", PROBE], command=[])
    with open(tmp_path / "probe.log", "w") as log:
        outcome = backend.run_container(config, 60, log, lambda _: None)
    text = (tmp_path / "probe.log").read_text()
    assert outcome.exit_code == 0, text
    seen = json.loads(next(line[6:] for line in text.splitlines() if line.startswith("PROBE ")))
    assert seen["uid"] != 0
    assert seen["net"] == ["lo"]
    for path in ("/data/x", "/job/x", "/x", "/opt/bench/x", "/opt/venv/x", "/etc/x"):
        assert seen[path] == "Read-only file system", (path, seen[path])
    assert seen["/out/x"] == seen["/tmp/x"] == "written"
    assert (out / "x").read_text() == "x" and not (data_dir / "x").exists()
    assert seen["connect"] != "connected"
    assert int(seen["CapEff"], 16) == 0 and seen["NoNewPrivs"] == "1"


def test_over_memory_limit_is_oom_and_the_next_job_runs(client, images, data_dir, tmp_path):
    backend = DockerBackend(client=client, log=lambda _: None, limits=Limits(memory_bytes=512 * MiB))
    # 16384 x 16384 initial weights: 2 GiB of float64 while they are drawn, far over 512 MiB.
    doc = spec_dict("pytorch", "regression", epochs=1)
    doc["workload"]["layers"] = [
        {"units": 16384, "activation": "relu"},
        {"units": 16384, "activation": "relu"},
        {"units": 1, "activation": "linear"},
    ]
    outcome, report, _, log = run_job(backend, JobSpec.model_validate(doc), tmp_path / "oom", data_dir)
    assert outcome.oom_killed, log
    assert report.status == "oom" and "out-of-memory" in report.error.message
    assert "(killed: out of memory)" in log
    assert leftovers(client, backend) == []
    _, after, _, log = run_job(backend, make_spec("pytorch", "regression"), tmp_path / "next", data_dir)
    assert after.status == "ok", log


def test_past_deadline_is_timeout_and_nothing_is_left(backend, client, data_dir, tmp_path):
    # One epoch of 2048-wide layers at batch size 1 takes minutes; the hard deadline is 1 s + 2 s grace.
    doc = spec_dict("pytorch", "classification", epochs=1, batch_size=1, max_train_samples=4000)
    doc["workload"]["layers"] = [
        {"units": 2048, "activation": "relu"},
        {"units": 2048, "activation": "relu"},
        {"units": 10, "activation": "linear"},
    ]
    doc["timeouts"] = {"job_seconds": 1}
    outcome, report, _, log = run_job(backend, JobSpec.model_validate(doc), tmp_path / "slow", data_dir)
    assert outcome.timed_out and outcome.wall_seconds < 20, log
    assert report.status == "timeout"
    assert "(killed: hard timeout)" in log
    assert leftovers(client, backend) == []


def test_sweep_removes_the_leftovers_of_a_dead_run(client, images):
    """A container whose owner on this host is gone is removed; one whose owner lives is kept, even
    stopped (a concurrent Ray task may still be reading it)."""
    host = platform.node() or "host"  # what the backend labels its containers with
    dead_pid = str(2**22 + 12345)  # above pid_max: never alive
    stale = client.containers.create(
        "bench-pytorch:cpu", labels={"bench.run": "dead-run", "bench.host": host, "bench.pid": dead_pid}
    )
    alive = client.containers.create(
        "bench-pytorch:cpu",
        labels={"bench.run": "live-run", "bench.host": host, "bench.pid": str(os.getpid())},
    )
    try:
        backend = DockerBackend(client=client, log=lambda _: None)
        assert client.api.containers(all=True, filters={"id": stale.id}) != []  # only an explicit sweep
        assert backend.sweep_leftovers() >= 1
        assert client.api.containers(all=True, filters={"id": stale.id}) == []
        assert client.api.containers(all=True, filters={"id": alive.id}) != []
    finally:
        alive.remove(force=True)


def test_outcome_of_a_container_that_cannot_start(backend, tmp_path):
    config = {"image": "bench-no-such-image:cpu", "name": "bench-never", "labels": backend.labels}
    with open(tmp_path / "log", "w") as log:
        outcome = backend.run_container(config, 10, log, lambda _: None)
    assert outcome == Outcome(exit_code=None, wall_seconds=outcome.wall_seconds, timed_out=False)
    assert "docker could not start the job" in (tmp_path / "log").read_text()


def _orchestrate(backend: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *BENCH,
            "orchestrate",
            "--suite",
            "tests/suites/tiny.toml",
            "--out",
            str(out),
            "--gpus",
            "none",
            "--backend",
            backend,
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _reports(out: Path) -> dict[str, RunReport]:
    return {p.stem: RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")}


def _files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def test_orchestrate_in_containers_writes_what_venv_writes(images, tmp_path):
    docker_run, venv_run = tmp_path / "docker", tmp_path / "venv"
    proc = _orchestrate("docker", docker_run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "backend: docker (as asked" in proc.stdout and "4 jobs: 4 ok" in proc.stdout
    proc = _orchestrate("venv", venv_run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _files(docker_run) == _files(venv_run)
    in_docker, in_venv = _reports(docker_run), _reports(venv_run)
    assert in_docker.keys() == in_venv.keys()  # the same spec ids: the same jobs
    for spec_id, d in in_docker.items():
        v = in_venv[spec_id]
        assert d.status == v.status == "ok"
        assert d.env.image_digest and d.env.image_digest.startswith("sha256:") and v.env.image_digest is None
        for field in ("dataset_sha256", "init_weights_sha256", "batch_order_sha256", "param_count"):
            assert getattr(d.fairness, field) == getattr(v.fairness, field), field
        # Same pins, same threads: the same numbers up to float32 noise.
        assert d.fairness.initial_train_loss == pytest.approx(v.fairness.initial_train_loss, rel=1e-5)
        assert d.epochs[-1].val_loss == pytest.approx(v.epochs[-1].val_loss, rel=1e-3)
    meta = json.loads((docker_run / "run.json").read_text())
    assert meta["backend"] == "docker"
    assert {r["image"] for r in meta["runners"].values()} == {"bench-pytorch:cpu", "bench-tensorflow:cpu"}


def test_images_list_shows_both_with_digests(client, images):
    proc = subprocess.run([*BENCH, "images", "list"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for fw in FRAMEWORKS:
        info, problem = check_image(client, fw, "cpu")
        line = next(line for line in proc.stdout.splitlines() if f"bench-{fw}:cpu" in line)
        assert info is not None and info.digest in line and info.digest.startswith("sha256:")
        assert ("stale" if problem else "current") in line  # runners/ may change while tests run
