"""Peak memory per job: runners/resources.py, the report's `resources`, the tidy column and the tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.results.tables import build_tables
from orchestrator.results.tidy import final_frame, load_run, metrics_frame
from runners import resources
from schemas.report import Resources, RunReport
from tests.unit._factories import make_report, make_spec, write_run

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
MIB = 2**20
linux_only = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")


@linux_only
def test_peak_of_this_process_is_its_vm_hwm() -> None:
    peak = resources.peak()
    assert peak is not None and peak.peak_rss_bytes > 10 * MIB  # an interpreter with pandas loaded
    assert peak.vm_hwm_bytes is not None and peak.self_maxrss_bytes is not None
    assert peak.peak_rss_bytes == max(peak.vm_hwm_bytes, peak.children_maxrss_bytes or 0)


def run_python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


ALLOCATE_400_MIB = "x = b'\\x01' * (400 << 20)"
REPORT_PEAK = "from runners.resources import peak\nprint(peak().model_dump_json())\n"


def test_a_child_bigger_than_the_runner_gives_the_peak() -> None:
    """RUSAGE_CHILDREN counts a waited-for child: a 400 MiB child outweighs a small runner."""
    parent = (
        f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {ALLOCATE_400_MIB!r}], check=True)\n"
    )
    peak = Resources.model_validate_json(run_python(parent + REPORT_PEAK))
    assert peak.peak_rss_bytes >= 400 * MIB and peak.peak_rss_source.startswith("getrusage RUSAGE_CHILDREN")
    assert peak.vm_hwm_bytes is None or peak.vm_hwm_bytes < 400 * MIB  # the runner's own mark


@linux_only
def test_a_big_launcher_does_not_inflate_the_runner_peak() -> None:
    """Linux's RUSAGE_SELF ru_maxrss keeps the high-water mark of the image exec replaced: a small
    runner started by a 400 MiB process reads 400 MiB there. VmHWM is the runner's own."""
    launcher = f"{ALLOCATE_400_MIB}\nimport subprocess, sys\nsubprocess.run([sys.executable, '-c', {REPORT_PEAK!r}])\n"
    peak = Resources.model_validate_json(run_python(launcher))
    assert peak.self_maxrss_bytes is not None and peak.self_maxrss_bytes >= 400 * MIB
    assert peak.peak_rss_bytes < 200 * MIB and peak.peak_rss_source == "/proc/self/status VmHWM"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name:\tpython\nVmPeak:\t  900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1000 kB\n", 2048 * 1024),
        ("VmHWM:\t  12 MB\n", None),
        ("VmHWM:\n", None),
        ("Name:\tpython\n", None),
    ],
)
def test_vm_hwm_reading(tmp_path: Path, text: str, expected: int | None) -> None:
    status = tmp_path / "status"
    status.write_text(text)
    assert resources.vm_hwm_bytes(status) == expected
    assert resources.vm_hwm_bytes(tmp_path / "missing") is None


def test_peak_rss_column_and_results_table(tmp_path: Path) -> None:
    jobs = []
    for repeat in range(2):
        for fw, mib in (("pytorch", 300), ("tensorflow", 500)):
            spec = make_spec(fw, repeat=repeat, epochs=3)
            rss = Resources(peak_rss_bytes=(mib + repeat) * MIB, peak_rss_source="getrusage")
            jobs.append((spec, make_report(spec).model_copy(update={"resources": rss})))
    old = make_spec("pytorch", repeat=2, epochs=3)  # a report from before schema 4: not measured
    jobs.append((old, make_report(old)))
    frame = metrics_frame(load_run(write_run(tmp_path, jobs)))
    by_job = frame.groupby(["framework", "repeat"])["peak_rss_mb"].first()
    assert by_job[("pytorch", 0)] == 300.0 and by_job[("tensorflow", 1)] == 501.0
    assert pd.isna(by_job[("pytorch", 2)])
    table = build_tables(final_frame(frame))[0][0]
    column = table.headers.index("peak RSS (MiB)")
    assert [row[column] for row in table.rows] == ["300.5 (300.0–301.0)", "500.5 (500.0–501.0)"]
    assert "Peak RSS: the runner's peak resident memory" in table.caption


def test_fake_runner_reports_peak_memory_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real runner process: its report carries `resources`, metrics.csv and report.html show it."""
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path / "history"))  # not the user's history
    out = tmp_path / "run"
    args = ["orchestrate", "--suite", str(FAKE_SUITE), "--tasks", "regression", "--repeats", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--gpus", "none"])
    assert result.exit_code == 0, result.output
    (path,) = (out / "reports").glob("*.json")
    report = RunReport.model_validate_json(path.read_text())
    assert report.schema_version >= 4 and report.resources is not None
    assert report.resources.peak_rss_bytes > 10 * MIB  # python + numpy + pydantic, at least
    if Path("/proc/self/status").exists():  # the runner's own mark, not its launcher's (bench's)
        assert json.loads(path.read_text())["resources"]["peak_rss_source"] == "/proc/self/status VmHWM"
    csv = pd.read_csv(out / "metrics.csv")
    assert (csv["peak_rss_mb"] == report.resources.peak_rss_bytes / MIB).all()
    assert "peak RSS (MiB)" in (out / "tables" / "results_regression.md").read_text()
    assert "peak RSS (MiB)" in (out / "report.html").read_text()
