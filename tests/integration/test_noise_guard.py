"""The noise guard with both real frameworks: a bounded CPU hog during part of a small suite flags
exactly the jobs it overlapped, and no verdict uses them."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.noise import judge_noise
from schemas import JobSpec, RunReport
from tests.hog import hog_between

pytestmark = [pytest.mark.frameworks, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_jobs_overlapped_by_a_cpu_hog_are_flagged_and_left_out_of_the_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", "tests/suites/tiny.toml",
           "--tasks", "classification", "--repeats", "3", "--out", str(out), "--gpus", "none",
           "--rerun-contaminated", "0", "--quiet-wait", "60"]  # fmt: skip
    # Jobs run tensorflow, pytorch per repeat: the hog covers repeat 1 of both (jobs 3 and 4).
    with hog_between(out, start_with_job=3, stop_after=4) as hog:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert hog.started_at is not None and hog.stopped_at is not None
    specs = {p.stem: JobSpec.model_validate_json(p.read_bytes()) for p in (out / "specs").glob("*.json")}
    flags = {}
    for path in (out / "reports").glob("*.json"):
        report = RunReport.model_validate_json(path.read_bytes())
        verdict = judge_noise(report)
        assert verdict.measured, f"{path.name}: no noise evidence"
        flags[(specs[path.stem].framework, specs[path.stem].repeat)] = verdict
    overlapped = {(fw, 1) for fw in ("tensorflow", "pytorch")}
    for job, verdict in sorted(flags.items()):
        assert verdict.contaminated == (job in overlapped), f"{job}: {verdict.text}"
    with open(out / "tables" / "winner.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(row["n_a"] == "2" and row["n_b"] == "2" for row in rows), rows
    assert "6 ok (2 contaminated, left out of the verdicts)" in proc.stdout
