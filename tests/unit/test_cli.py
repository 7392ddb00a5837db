"""The `bench` CLI through typer's CliRunner: exit code first, then a key substring."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("orchestrate", "report", "datasets", "runners", "schema", "images", "check", "calibrate",
                    "history", "compare"):
        assert command in result.output


def test_schema_prints_json_schema():
    result = invoke("schema", "run_report")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "RunReport"


def test_schema_unknown_name():
    result = invoke("schema", "nope")
    assert result.exit_code == 2
    assert "unknown schema" in result.output


def test_datasets_list_and_unknown_fetch(tmp_path):
    result = invoke("datasets", "list")
    assert result.exit_code == 0
    assert "fashion-mnist" in result.output
    result = invoke("datasets", "fetch", "imagenet", "--data-dir", tmp_path)
    assert result.exit_code == 2
    assert "unknown dataset" in result.output


def test_datasets_fetch_petrol(tmp_path):
    result = invoke("datasets", "fetch", "petrol", "--data-dir", tmp_path)
    assert result.exit_code == 0
    assert "38 train / 10 validation" in result.output


def test_runners_list_names_each_runner():
    result = invoke("runners", "list")
    assert result.exit_code == 0
    assert "tensorflow" in result.output and "pytorch" in result.output and "fake" in result.output


@pytest.mark.parametrize(
    ("suite_text", "expected"),
    [
        ("name = 'x'\nrepeats = 'five'", "invalid suite"),
        ("this is not toml", "not valid TOML"),
        (
            FAKE_SUITE.read_text().replace("repeats = 2", "repeats = 2\ncolour = 'red'"),
            "colour: Extra inputs",
        ),
        (FAKE_SUITE.read_text().replace("units = 10,", "units = 3,"), "needs 10 outputs"),
        (FAKE_SUITE.read_text().replace('name = "fake"', 'name = "../etc"'), "name:"),
    ],
)
def test_bad_suites_are_one_clear_line_with_exit_2(tmp_path, suite_text, expected):
    suite = tmp_path / "suite.toml"
    suite.write_text(suite_text)
    result = invoke("orchestrate", "--suite", suite, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_missing_suite_and_unknown_task(tmp_path):
    result = invoke("orchestrate", "--suite", tmp_path / "missing.toml")
    assert result.exit_code == 2
    assert "cannot read suite" in result.output
    result = invoke("orchestrate", "--suite", FAKE_SUITE, "--tasks", "vision", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "unknown task" in result.output


def test_report_on_a_non_run_directory(tmp_path):
    result = invoke("report", tmp_path)
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_orchestrate_fake_suite_end_to_end_then_report_is_byte_identical(tmp_path):
    out = tmp_path / "run"
    result = invoke("orchestrate", "--suite", FAKE_SUITE, "--out", out, "--gpus", "none")
    assert result.exit_code == 0, result.output
    assert "4 jobs: 4 ok" in result.output
    meta = json.loads((out / "run.json").read_text())
    assert meta["state"] == "complete"
    assert meta["datasets"]["classification"]["used"] == "mnist-5k"
    assert meta["wall_time"]["wall_seconds"] == meta["wall_seconds"] and len(meta["wall_time"]["jobs"]) == 4
    produced = sorted(
        p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.suffix in (".csv", ".md")
    )
    assert Path("metrics.csv") in produced and Path("tables/winner.md") in produced
    before = {p: (out / p).read_bytes() for p in produced}
    for p in before:
        (out / p).unlink()
    result = invoke("report", out)
    assert result.exit_code == 0, result.output
    assert {p: (out / p).read_bytes() for p in produced} == before
    assert (out / "report.html").stat().st_size > 10_000


def test_orchestrate_refuses_to_overwrite_a_run(tmp_path):
    out = tmp_path / "run"
    assert invoke("orchestrate", "--suite", FAKE_SUITE, "--out", out, "--repeats", "1").exit_code == 0
    result = invoke("orchestrate", "--suite", FAKE_SUITE, "--out", out)
    assert result.exit_code == 2
    assert "holds a run of a different suite" in result.output


def test_ctrl_c_works_even_when_bench_inherits_sigint_ignored(tmp_path):
    """`nohup make test > log 2>&1 &` starts bench with SIGINT ignored, so Python installs no
    KeyboardInterrupt handler; bench installs its own (orchestrator/signals.py) and still exits 130."""
    out = tmp_path / "run"
    env = {**os.environ, "BENCH_FAKE_FAULT": "hang", "BENCH_FAKE_FAULT_REPEAT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out),
         "--tasks", "regression", "--repeats", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(out.glob("logs/*.log")):  # the job has started
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()  # a no-op when it exited; otherwise (the failure) no bench is left behind
    assert proc.returncode == 130, output
    assert json.loads((out / "run.json").read_text())["state"] == "interrupted"
