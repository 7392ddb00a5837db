"""`bench orchestrate` end to end on the venv backend with both real frameworks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas import RunReport

pytestmark = [pytest.mark.frameworks, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, "-m", "orchestrator.cli"]


def reports(out: Path) -> dict[str, RunReport]:
    return {p.stem: RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")}


def test_tiny_suite_with_both_frameworks(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [*BENCH, "orchestrate", "--suite", "tests/suites/tiny.toml", "--out", str(out), "--gpus", "none"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 jobs: 4 ok" in proc.stdout
    found = reports(out)
    assert {r.framework for r in found.values()} == {"tensorflow", "pytorch"}
    assert all(r.status == "ok" and r.exit_code == 0 and r.env.env_hash for r in found.values())
    parity = (out / "tables" / "parity.csv").read_text()
    assert "FAIL" not in parity and parity.count("pass") == 2
    for name in (
        "metrics.csv",
        "report.html",
        "tables/winner.md",
        "plots/classification_time.png",
        "plots/regression_val_metric.svg",
    ):
        assert (out / name).stat().st_size > 0, name


def test_sigkill_of_a_real_runner_mid_run(tmp_path):
    """The killed job is `crashed` with its log; the other jobs finish; exit code 1 names the job."""
    suite = tmp_path / "suite.toml"
    suite.write_text(
        (ROOT / "tests/suites/tiny.toml")
        .read_text()
        .replace("epochs = 3", "epochs = 40")
        .replace("max_train_samples = 300", "max_train_samples = 2000")
    )
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            *BENCH,
            "orchestrate",
            "--suite",
            str(suite),
            "--out",
            str(out),
            "--tasks",
            "classification",
            "--backend",
            "venv",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline:  # the first job is tensorflow, repeat 0
        for log in (out / "logs").glob("*.log") if (out / "logs").exists() else []:
            if '"epoch": 2' in log.read_text():
                pids = subprocess.run(
                    ["pgrep", "-P", str(proc.pid), "-f", "runners.tensorflow"], capture_output=True, text=True
                ).stdout
                if pids.split():
                    victim = int(pids.split()[0])
        time.sleep(0.2)
    assert victim is not None, "the tensorflow runner never reached epoch 2"
    os.kill(victim, signal.SIGKILL)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, output
    by_fw = {r.framework: r for r in reports(out).values()}
    assert by_fw["tensorflow"].status == "crashed"
    assert "killed by SIGKILL" in by_fw["tensorflow"].error.message
    assert by_fw["pytorch"].status == "ok" and len(by_fw["pytorch"].epochs) == 40
    assert f"failed: {by_fw['tensorflow'].spec_id}" in output.replace("\n", "")
    log = (out / "logs" / f"{by_fw['tensorflow'].spec_id}.log").read_text()
    assert "exit code -9" in log
    assert json.loads((out / "run.json").read_text())["state"] == "complete"
