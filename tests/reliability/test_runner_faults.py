"""Fault injection through the fake runner: every job ends in one status; the others are intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from schemas import RunReport

FAKE_SUITE = Path(__file__).resolve().parents[2] / "tests" / "suites" / "fake.toml"


def run_with_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, *extra: str):
    monkeypatch.setenv("BENCH_FAKE_FAULT", fault)
    monkeypatch.setenv("BENCH_FAKE_FAULT_REPEAT", "1")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out), "--tasks", "regression", *extra]
    )
    reports = {
        r.spec_id: r
        for r in (RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json"))
    }
    specs = {p.stem: json.loads(p.read_text()) for p in (out / "specs").glob("*.json")}
    by_repeat = {specs[sid]["repeat"]: r for sid, r in reports.items()}
    return result, by_repeat, out


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        ("crash", "crashed", "killed by SIGKILL"),
        ("error", "error", "injected fault"),
        ("nan", "diverged", "became nan in epoch 1"),
    ],
)
def test_one_bad_job_is_recorded_and_the_rest_survive(tmp_path, monkeypatch, fault, status, message):
    result, by_repeat, out = run_with_fault(tmp_path, monkeypatch, fault)
    assert result.exit_code == 1
    assert by_repeat[0].status == "ok" and by_repeat[0].exit_code == 0
    bad = by_repeat[1]
    assert bad.status == status
    assert message in bad.error.message
    assert f"failed: {bad.spec_id}" in result.output.replace("\n", "")
    assert (out / "logs" / f"{bad.spec_id}.log").exists()
    assert "1 ok" in result.output and f"1 {status}" in result.output
    assert (out / "report.html").exists()


def test_a_crashed_job_keeps_its_log_and_exit_code(tmp_path, monkeypatch):
    _, by_repeat, out = run_with_fault(tmp_path, monkeypatch, "crash")
    assert by_repeat[1].exit_code == -9
    log = (out / "logs" / f"{by_repeat[1].spec_id}.log").read_text()
    assert '"event": "epoch", "epoch": 1' in log and "exit code -9" in log


def test_a_hung_runner_is_killed_at_the_hard_deadline(tmp_path, monkeypatch):
    suite = tmp_path / "suite.toml"
    suite.write_text(FAKE_SUITE.read_text().replace("job_timeout_seconds = 60", "job_timeout_seconds = 1"))
    monkeypatch.setenv("BENCH_FAKE_FAULT", "hang")
    monkeypatch.setenv("BENCH_FAKE_FAULT_REPEAT", "0")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["orchestrate", "--suite", str(suite), "--out", str(out), "--tasks", "regression", "--repeats", "1"],
    )
    assert result.exit_code == 1
    (report_path,) = (out / "reports").glob("*.json")
    report = RunReport.model_validate_json(report_path.read_text())
    assert report.status == "timeout"
    assert "hard deadline" in report.error.message
    assert report.wall_seconds < 10


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path, sig):
    """SIGINT while a job runs: the runner is killed, finished reports stay, run.json says so."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    env = {**os.environ, "BENCH_FAKE_FAULT": "hang", "BENCH_FAKE_FAULT_REPEAT": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out),
         "--tasks", "regression"],
        cwd=FAKE_SUITE.parents[2], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "logs").glob("*.log")) if out.exists() else []) < 2:
        time.sleep(0.1)
    time.sleep(1.0)  # repeat 1 is now hanging inside its runner
    proc.send_signal(getattr(signal, sig))
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert json.loads((out / "run.json").read_text())["state"] == "interrupted"
    finished = [RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")]
    assert sorted(r.status for r in finished) == ["crashed", "ok"]
    assert any("interrupted" in (r.error.message if r.error else "") for r in finished)
    assert "--resume" in output
    hung = subprocess.run(["pgrep", "-f", str(out / "specs")], capture_output=True, text=True).stdout
    assert hung.strip() == "", "the hanging runner survived Ctrl-C"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("garbage", "not a valid RunReport"),
        ("truncated", "not a valid RunReport"),
        ("huge", "over the"),
        ("version", "schema_version"),
    ],
)
def test_untrustworthy_reports_become_crashed_with_the_reason(tmp_path, monkeypatch, fault, reason):
    result, by_repeat, out = run_with_fault(tmp_path, monkeypatch, fault)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    bad = by_repeat[1]
    assert bad.status == "crashed"
    assert reason in bad.error.message
    assert (out / "reports" / f"{bad.spec_id}.json.invalid").exists()  # the evidence is kept aside
    assert by_repeat[0].status == "ok"


def test_ok_report_with_a_bad_exit_code_is_not_trusted(tmp_path, monkeypatch):
    result, by_repeat, _ = run_with_fault(tmp_path, monkeypatch, "exit3")
    assert result.exit_code == 1
    assert by_repeat[1].status == "crashed" and by_repeat[1].exit_code == 3
    assert "report says ok but the runner exited with code 3" in by_repeat[1].error.message


def test_retries_rerun_crashes_and_keep_every_attempt(tmp_path, monkeypatch):
    result, by_repeat, out = run_with_fault(tmp_path, monkeypatch, "crash", "--retries", "2")
    assert result.exit_code == 1  # the fake crashes every time
    bad = by_repeat[1]
    attempts = sorted((out / "reports" / "attempts").glob(f"{bad.spec_id}.*.json"))
    assert len(attempts) == 2  # attempts 1 and 2 archived, attempt 3 is the report
    log = (out / "logs" / f"{bad.spec_id}.log").read_text()
    assert "# attempt 3 (retry after crash)" in log
    assert result.output.count("retry") >= 2


def test_diverged_is_never_retried(tmp_path, monkeypatch):
    result, by_repeat, out = run_with_fault(tmp_path, monkeypatch, "nan", "--retries", "3")
    assert by_repeat[1].status == "diverged"
    assert not (out / "reports" / "attempts").exists()


def test_resume_reruns_only_what_did_not_end_ok(tmp_path, monkeypatch):
    result, by_repeat, out = run_with_fault(tmp_path, monkeypatch, "error")
    assert result.exit_code == 1
    ok_report = out / "reports" / f"{by_repeat[0].spec_id}.json"
    ok_bytes = ok_report.read_bytes()
    monkeypatch.delenv("BENCH_FAKE_FAULT")
    result = CliRunner().invoke(app, ["orchestrate", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    assert "kept 1 job(s)" in result.output
    assert ok_report.read_bytes() == ok_bytes  # untouched, not re-run
    resumed = RunReport.model_validate_json((out / "reports" / f"{by_repeat[1].spec_id}.json").read_text())
    assert resumed.status == "ok"
    assert len(list((out / "reports" / "attempts").glob("*.json"))) == 1  # the failed attempt, kept


def test_rerunning_into_the_same_run_dir_resumes_it(tmp_path, monkeypatch):
    _, by_repeat, out = run_with_fault(tmp_path, monkeypatch, "error")
    monkeypatch.delenv("BENCH_FAKE_FAULT")
    result = CliRunner().invoke(
        app, ["orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out), "--tasks", "regression"]
    )
    assert result.exit_code == 0, result.output
    assert "kept 1 job(s)" in result.output


def test_resume_of_something_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(app, ["orchestrate", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot resume" in result.output or "not a run directory" in result.output


def test_a_killed_orchestrator_leaves_no_orphan_runner(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    env = {**os.environ, "BENCH_FAKE_FAULT": "hang"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out),
         "--tasks", "regression", "--repeats", "1"],
        cwd=FAKE_SUITE.parents[2], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((out / "logs").glob("*.log") if out.exists() else []):
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(1.0)
    left = subprocess.run(["pgrep", "-f", str(out / "specs")], capture_output=True, text=True).stdout
    if left.strip():
        subprocess.run(["pkill", "-9", "-f", str(out / "specs")])
    assert left.strip() == "", "the runner outlived a SIGKILLed orchestrator"


def test_a_network_too_big_for_memory_ends_oom(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(
        FAKE_SUITE.read_text().replace(
            '{ units = 8, activation = "relu" }',
            '{ units = 65536, activation = "relu" }, { units = 65536, activation = "relu" }',
        )
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["orchestrate", "--suite", str(suite), "--out", str(out), "--tasks", "regression", "--repeats", "1"],
    )
    assert result.exit_code == 1, result.output
    (report,) = [RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")]
    assert report.status == "oom"
    assert "Unable to allocate" in report.error.message
