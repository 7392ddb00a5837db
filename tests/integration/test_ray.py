"""The Ray executor on a real local Ray cluster (no mocks): a head without GPUs plus a worker node that
declares 2 fake GPUs, so GPU scheduling is exercised on a CPU-only machine. The fake runner reports
the device it was given (BENCH_FAKE_GPU=1). Each run is a separate `bench orchestrate` driver process
joining the cluster, as a user's would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.executors import ExecutorError, import_ray
from schemas import RunReport

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
HEADER = re.compile(r"# attempt (\d+) \(.*\) at \S+ on \S+ \(ray node (\w+), GPU ids \[([\d, ]*)\]\)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    # Fast failure detection, so a killed node is noticed in seconds rather than half a minute.
    config = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "_system_config": config})
    try:
        c.add_node(num_cpus=2, num_gpus=2)
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()


def bench(cluster: Any, out: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(FAKE_SUITE),
           "--out", str(out), "--tasks", "regression", "--executor", "ray", "--ray-address", cluster.address,
           *args]  # fmt: skip
    full_env = {**os.environ, "BENCH_FAKE_GPU": "1", **env}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def reports(out: Path) -> dict[str, RunReport]:
    return {p.stem: RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")}


def headers(out: Path, sid: str) -> list[tuple[int, str, list[int]]]:
    text = (out / "logs" / f"{sid}.log").read_text()
    return [
        (int(a), node, [int(i) for i in ids.split(",") if i.strip()]) for a, node, ids in HEADER.findall(text)
    ]


def test_without_ray_the_hint_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExecutorError, match=r"pip install 'bench\[ray\]'"):
        import_ray()


def test_an_unreachable_cluster_fails_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from typer.testing import CliRunner

    from orchestrator.cli import app

    result = CliRunner().invoke(app, ["orchestrate", "--suite", str(FAKE_SUITE), "--out", str(tmp_path / "r"),
                                      "--executor", "ray", "--ray-address", "127.0.0.1:1"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no Ray cluster answers at 127.0.0.1:1" in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_six_gpu_jobs_on_two_gpus_run_at_most_two_at_once(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = bench(cluster, out, "--repeats", "6", BENCH_FAKE_EPOCH_SECONDS="0.4")
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, output
    meta = json.loads((out / "run.json").read_text())
    assert meta["executor"] == "ray" and meta["state"] == "complete"
    found = reports(out)
    assert len(found) == 6 and all(r.status == "ok" for r in found.values())
    gpu_node = cluster.list_all_nodes()[1].node_id
    spans = []
    for sid, report in found.items():
        node = meta["nodes"][sid]
        assert node["node_id"] == gpu_node and len(node["gpu_ids"]) == 1  # never the GPU-less head
        assert report.node is not None and report.node.ray_node_id == gpu_node  # fleet facts in the report
        gpu = node["gpu_ids"][0]  # as Ray gave it: a string (an index, or a UUID on UUID-named hosts)
        # The id Ray assigned is the one the runner saw (CUDA_VISIBLE_DEVICES) and reported.
        assert headers(out, sid) == [(1, gpu_node, [int(gpu)])]
        assert report.placement is not None and report.placement.gpus == (gpu,)
        assert f"fake: CUDA_VISIBLE_DEVICES={gpu}\n" in (out / "logs" / f"{sid}.log").read_text()
        assert report.env is not None and report.env.gpu is not None
        assert report.env.gpu.gpu_uuid == f"GPU-fake-{gpu}"
        spans.append((report.started_at, report.finished_at, gpu))
    most = 0
    for start, _, _ in spans:  # the jobs running at each job's start
        running = [g for s, f, g in spans if s <= start < f]
        assert len(running) == len(set(running)), f"two jobs on one GPU at {start}: {spans}"
        most = max(most, len(running))
    assert most == 2, spans  # 2 GPUs: never more than 2 at once, and both were used
    assert (out / "report.html").exists() and (out / "tables" / "winner.md").exists()


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_kills_the_runners(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = bench(cluster, out, "--repeats", "3", BENCH_FAKE_FAULT="hang", BENCH_FAKE_FAULT_REPEAT="1")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done = reports(out) if (out / "reports").exists() else {}
        if sum(r.status == "ok" for r in done.values()) == 2:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # repeat 1 is hanging inside its runner, on the GPU node
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert json.loads((out / "run.json").read_text())["state"] == "interrupted"
    statuses = sorted(r.status for r in reports(out).values())
    assert statuses.count("ok") == 2 and statuses.count("crashed") == 1, statuses
    for _ in range(50):  # the force-cancelled worker takes its runner with it (PR_SET_PDEATHSIG)
        left = subprocess.run(["pgrep", "-f", str(out / "specs")], capture_output=True, text=True).stdout
        if not left.strip():
            break
        time.sleep(0.2)
    assert left.strip() == "", "a runner survived Ctrl-C"
    # Resume on the cluster: the 2 ok jobs are kept, the interrupted one runs again (its report archived).
    proc = bench(cluster, out, "--resume", str(out))
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "kept 2 job(s)" in output
    assert all(r.status == "ok" for r in reports(out).values()) and len(reports(out)) == 3
    assert len(list((out / "reports" / "attempts").glob("*.json"))) == 1


@pytest.mark.slow
def test_a_lost_node_means_crashed_then_retried_on_the_other_node(cluster: Any, tmp_path: Path) -> None:
    """Runs last: it kills one of the module cluster's GPU nodes."""
    cluster.add_node(num_cpus=2, num_gpus=2)
    cluster.wait_for_nodes()
    out = tmp_path / "run"
    proc = bench(cluster, out, "--repeats", "2", BENCH_FAKE_EPOCH_SECONDS="1.5")
    victim, deadline = None, time.monotonic() + 90
    while victim is None and time.monotonic() < deadline:
        for log in (out / "logs").glob("*.log") if (out / "logs").exists() else []:
            if found := headers(out, log.stem):
                victim = found[0][1]
                break
        time.sleep(0.2)
    assert victim is not None, "no job started"
    time.sleep(1.0)  # mid-job: epoch 1 of 4
    (node,) = [n for n in cluster.worker_nodes if n.node_id == victim]
    cluster.remove_node(node, allow_graceful=False)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, output
    final = reports(out)
    assert len(final) == 2 and all(r.status == "ok" for r in final.values()), output
    hit = [sid for sid in final if headers(out, sid)[0][1] == victim]
    assert hit, "the killed node ran no job"
    for sid in hit:
        (first,) = (out / "reports" / "attempts").glob(f"{sid}.*.json")
        lost = RunReport.model_validate_json(first.read_text())
        assert lost.status == "crashed" and "Ray lost" in lost.error.message  # type: ignore[union-attr]
        attempts = headers(out, sid)
        assert [a for a, _, _ in attempts] == [1, 2] and attempts[1][1] != victim  # once, elsewhere
    nodes = json.loads((out / "run.json").read_text())["nodes"]
    assert all(nodes[sid]["node_id"] != victim and nodes[sid]["attempt"] == 2 for sid in hit)
    left = subprocess.run(["pgrep", "-f", str(out / "specs")], capture_output=True, text=True).stdout
    assert left.strip() == "", "the lost node's runner survived it"
