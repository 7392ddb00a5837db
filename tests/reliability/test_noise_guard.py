"""The noise guard end to end with the fake runner: a job timed under a CPU hog is flagged, kept in
the tables, left out of the verdicts and re-run once the machine is quiet again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.noise import judge_noise
from schemas import RunReport
from tests.hog import hog_between

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"


def orchestrate(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_FAKE_EPOCH_SECONDS": "0.5"}  # 3 epochs: 1.5 s of (sleeping) training
    cmd = [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(FAKE_SUITE),
           "--tasks", "classification", "--out", str(out), *args]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def reports(out: Path) -> dict[str, RunReport]:
    return {p.stem: RunReport.model_validate_json(p.read_bytes()) for p in (out / "reports").glob("*.json")}


def test_a_job_timed_under_load_is_rerun_when_the_machine_is_quiet(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with hog_between(out, start_with_job=1, stop_after=1) as hog:
        result = orchestrate(out, "--rerun-contaminated", "1", "--quiet-wait", "60")
    assert hog.started_at is not None and hog.stopped_at is not None
    assert result.returncode == 0, result.stdout + result.stderr
    attempts = sorted((out / "reports" / "attempts").glob("*.json"))
    assert len(attempts) == 1, "exactly the job the hog overlapped ran twice"
    first = RunReport.model_validate_json(attempts[0].read_bytes())
    assert judge_noise(first).contaminated, judge_noise(first).text
    final = reports(out)
    assert len(final) == 2 and not any(judge_noise(r).contaminated for r in final.values())
    log = (out / "logs" / f"{first.spec_id}.log").read_text()
    assert "# attempt 2 (re-run: contaminated (other processes used" in log
    assert "re-run: contaminated" in result.stdout


def test_without_reruns_the_flag_stays_and_the_verdicts_leave_the_job_out(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with hog_between(out, start_with_job=1, stop_after=1):
        result = orchestrate(out, "--rerun-contaminated", "0", "--quiet-wait", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    flagged = [sid for sid, r in reports(out).items() if judge_noise(r).contaminated]
    assert len(flagged) == 1
    assert "2 ok (1 contaminated, left out of the verdicts)" in result.stdout
    assert flagged[0] in (out / "report.html").read_text()
