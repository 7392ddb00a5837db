"""Bad input and a hostile environment: one clear line, the right exit code, nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from runners import datasets
from schemas import RunReport

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"


def orchestrate(*args: str):
    return CliRunner().invoke(app, ["orchestrate", *map(str, args)])


def test_html_hostile_run_name_renders_as_text(tmp_path):
    out = tmp_path / "<img src=x onerror=alert(1)>"
    result = orchestrate("--suite", FAKE_SUITE, "--out", out, "--tasks", "regression", "--repeats", "1")
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page


def test_shell_metacharacters_never_reach_a_shell(tmp_path):
    out = tmp_path / "run;touch PWNED;$(touch PWNED2)"
    result = orchestrate("--suite", FAKE_SUITE, "--out", out, "--tasks", "regression", "--repeats", "1")
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


def test_unwritable_output_directory_is_a_usage_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file instead
            target = tmp_path / "a-file"
            target.write_text("")
            out = target / "run"
        else:
            out = locked / "run"
        result = orchestrate("--suite", FAKE_SUITE, "--out", out)
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2
    assert "cannot write to" in result.output
    assert "Traceback" not in result.output


def test_a_framework_whose_environment_cannot_be_built_is_skipped(tmp_path, monkeypatch):
    suite = tmp_path / "suite.toml"
    suite.write_text(
        FAKE_SUITE.read_text().replace('frameworks = ["fake"]', 'frameworks = ["fake", "pytorch"]')
    )
    monkeypatch.setenv("BENCH_VENV_DIR", "/proc/no-venvs-here")
    out = tmp_path / "run"
    result = orchestrate("--suite", suite, "--out", out, "--tasks", "regression", "--repeats", "1")
    assert result.exit_code == 1
    assert "skipping pytorch" in result.output
    reports = [RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")]
    assert sorted((r.framework, r.status) for r in reports) == [("fake", "ok"), ("pytorch", "skipped")]
    assert "1 skipped" in result.output


def test_a_damaged_dataset_in_the_run_dir_is_rebuilt_on_resume(tmp_path):
    out = tmp_path / "run"
    assert (
        orchestrate("--suite", FAKE_SUITE, "--out", out, "--tasks", "regression", "--repeats", "1").exit_code
        == 0
    )
    npz = out / "data" / "petrol.npz"
    npz.write_bytes(npz.read_bytes()[:100])  # truncated
    for report in (out / "reports").glob("*.json"):
        report.unlink()
    result = orchestrate("--resume", out)
    assert result.exit_code == 0, result.output
    assert datasets.load(npz).meta["name"] == "petrol"


def test_a_corrupt_prepared_dataset_is_rebuilt_not_trusted(tmp_path):
    """The runner validates what it reads: NaNs planted in the prepared file make it rebuild it."""
    data = tmp_path / "data"
    path = datasets.prepare("petrol", data)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["x_train"][0, 0] = float("nan")
    np.savez(path, **arrays)
    spec = tmp_path / "spec.json"
    from tests.jobs import make_spec

    spec.write_text(make_spec("fake").model_dump_json())
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "runners.fake", "--spec", str(spec), "--out", str(out), "--data-dir", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    report = RunReport.model_validate_json(out.read_text())
    # prepare() sees an invalid file and rebuilds it, so the job still runs on clean data
    assert proc.returncode == 0 and report.status == "ok"
    assert not np.isnan(datasets.load(path).x_train).any()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount a tmpfs")
def test_a_full_disk_gives_one_clear_line(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = orchestrate("--suite", FAKE_SUITE, "--out", disk / "run", "--tasks", "regression")
        assert result.exit_code in (1, 2), result.output
        assert "No space left" in result.output or "no space" in result.output.lower()
        assert "Traceback" not in result.output
    finally:
        subprocess.run(["umount", str(disk)])
