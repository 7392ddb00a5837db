"""The Python API (`import bench`): the same code path as the CLI, the same bytes, the same one-line
errors, and hostile run directories refused without writing anything."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import bench
from orchestrator.cli import app
from orchestrator.results.tidy import frame_to_csv
from orchestrator.run_suite import SUITES_DIR, suite_file
from tests.unit._factories import paper_run

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
DEEP = b"[" * 5000 + b"]" * 5000


def quiet_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=250), out


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for a directory): what 'nothing written' means."""
    if not root.exists():
        return {}
    if root.is_file():
        return {".": root.read_bytes()}
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")}


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> bench.Run:
    """One real run of the fake suite through bench.run (the conftest's environment is per test:
    a module fixture sets its own)."""
    where = tmp_path_factory.mktemp("api")
    console, _ = quiet_console()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CALIBRATION_DIR", str(where / "calibration"))
        patch.setenv("BENCH_HISTORY_DIR", str(where / "history"))
        return bench.run(
            FAKE_SUITE, out=where / "run", backend="venv", gpus="none", quiet_wait=0, rerun_contaminated=0,
            console=console,
        )  # fmt: skip


@pytest.fixture(scope="module")
def two_framework_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run with verdicts and parity pairs, recording a margin and keep_contaminated
    that differ from the defaults (the API must read them as `bench report` does)."""
    meta = {"name": "two", "state": "complete", "machine": "test", "margin": 0.2, "keep_contaminated": True}
    return paper_run(tmp_path_factory.mktemp("two") / "run", repeats=5, epochs=3, meta=meta)


def test_bench_run_returns_the_run_it_wrote(fake_run):
    assert fake_run.ok
    assert fake_run.summary.startswith("4 jobs: 4 ok")
    assert fake_run.report_path == fake_run.run_dir / "report.html" and fake_run.report_path.is_file()
    meta = bench.load(fake_run.run_dir)._data.meta
    assert meta["state"] == "complete" and meta["command"].startswith(f"bench.run({str(FAKE_SUITE)!r}")
    metrics = fake_run.metrics
    assert set(metrics["status"]) == {"ok"} and len(metrics) == 2 * 3 + 2 * 4  # repeats x epochs
    metrics.loc[:, "status"] = "changed"  # a copy: the Run's own table is untouched
    assert set(fake_run.metrics["status"]) == {"ok"}


@pytest.mark.parametrize("which", ["fake_run", "two_framework_run"])
def test_cli_report_and_api_give_byte_identical_tables(which, request):
    """`bench report DIR` writes the files; bench.load(DIR) computes the same tables in memory
    (its own defaults for margin and contaminated jobs), and Run.render() writes the same bytes."""
    found = request.getfixturevalue(which)
    run_dir = found.run_dir if isinstance(found, bench.Run) else found
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    cli = {
        p.relative_to(run_dir): p.read_bytes()
        for p in run_dir.glob("tables/*")
        if p.suffix in (".md", ".csv")
    }
    cli[Path("metrics.csv")] = (run_dir / "metrics.csv").read_bytes()

    loaded = bench.load(run_dir)
    api = {Path("metrics.csv"): frame_to_csv(loaded.metrics).encode("utf-8")}
    for name, table in loaded.tables.items():
        api[Path("tables") / f"{name}.md"] = table.markdown().encode("utf-8")
        api[Path("tables") / f"{name}.csv"] = table.csv().encode("utf-8")
    assert api == cli

    for path in cli:
        (run_dir / path).unlink()
    written = bench.load(run_dir).render(plots=False)
    assert {run_dir / p for p in cli} <= set(written)
    assert {p: (run_dir / p).read_bytes() for p in cli} == cli


def test_verdicts_and_parity_are_dataframes_of_the_rows(two_framework_run):
    run = bench.load(two_framework_run)
    assert run.margin == 0.2 and run.keep_contaminated is True  # as recorded in run.json
    verdicts = run.verdicts
    assert isinstance(verdicts, pd.DataFrame)
    assert len(verdicts) == len(run.verdict_rows) == 6  # 2 tasks x 3 criteria, one pair
    assert list(verdicts.columns[:4]) == ["task", "criterion", "measure", "better"]
    row = verdicts[(verdicts["task"] == "classification") & (verdicts["criterion"] == "time")].iloc[0]
    assert (row["name_a"], row["name_b"], row["n_a"], row["n_b"]) == ("pytorch", "tensorflow", 5, 5)
    assert row["ratio"] == pytest.approx(0.7, rel=0.05) and row["ci_lo"] <= row["ratio"] <= row["ci_hi"]
    assert row["margin"] == 0.2 and row["text"] == run.verdict_rows[0].verdict.text  # type: ignore[union-attr]
    parity = run.parity
    assert len(parity) == len(run.parity_rows) == 10  # 2 tasks x 5 repeats, one pair each
    assert set(parity["check"]) == {"pass"}
    assert run.summary in repr(run)


def test_a_verdict_that_cannot_be_given_keeps_its_note(fake_run):
    verdicts = fake_run.verdicts
    assert len(verdicts) == 6 and verdicts["ratio"].isna().all()
    assert set(verdicts["note"]) == {"only one framework (fake)"}
    assert fake_run.parity.empty and list(fake_run.parity.columns)[:2] == ["task", "repeat"]


def test_plot_returns_a_figure_per_task_that_shows_itself(fake_run):
    from matplotlib.figure import Figure

    every = fake_run.plot("time")
    assert isinstance(every, Figure) and len(every.axes) == 2
    assert [ax.get_title() for ax in every.axes] == [
        "classification on mnist-5k: epochs vs training time",
        "regression on petrol: epochs vs training time",
    ]
    one = fake_run.plot("val_metric", task="regression")
    assert len(one.axes) == 1 and one.axes[0].get_yscale() == "log"  # MSE falls by decades
    assert one._repr_png_().startswith(b"\x89PNG")  # how Jupyter shows it, without pyplot


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ({"criterion": "loss"}, "unknown plot 'loss'; one of time, train_metric, val_metric"),
        ({"criterion": "time", "task": "vision"}, "has no task 'vision'; it has classification, regression"),
    ],
)
def test_plot_refuses_unknown_names(fake_run, call, expected):
    with pytest.raises(bench.BenchError, match=expected) as caught:
        fake_run.plot(**call)
    assert caught.value.exit_code == 2


def _bad_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("suite", "options", "expected"),
    [
        (lambda t: _bad_suite(t, "name = 'x'\nrepeats = 'five'"), {}, "invalid suite"),
        (lambda t: t / "missing.toml", {}, "cannot read suite"),
        (lambda t: FAKE_SUITE, {"tasks": "vision"}, "unknown task"),
        (lambda t: FAKE_SUITE, {"repeats": "many"}, "invalid option --repeats"),
    ],
)
def test_bench_run_errors_are_the_cli_line(tmp_path, suite, options, expected):
    """One line, the CLI's exit code, no SystemExit, no run directory."""
    path, out = suite(tmp_path), tmp_path / "run"
    with pytest.raises(bench.BenchError) as caught:
        bench.run(path, out=out, console=quiet_console()[0], **options)
    message = str(caught.value)
    assert expected in message and "\n" not in message and caught.value.exit_code == 2
    flags = [arg for name, value in options.items() for arg in (f"--{name}", str(value))]
    cli = CliRunner().invoke(app, ["orchestrate", "--suite", str(path), "--out", str(out), *flags])
    assert cli.exit_code == 2 and f"error: {message}" in cli.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"retries": 11}, "invalid value for --retries: 11 is not in the range 0<=x<=10"),
        ({"max_repeats": 3}, "invalid value for --max-repeats: 3 is not in the range 5<=x<=1000"),
        ({"epochs_override": 0}, "invalid value for --epochs-override: 0 is not in the range 1<=x"),
        ({"quiet_wait": float("nan")}, "invalid value for --quiet-wait: nan is not in the range"),
        ({"rerun_contaminated": True}, "--rerun-contaminated: True is not a whole number"),
        ({"backend": "podman"}, "invalid value for --backend: 'podman'; one of auto, venv, docker, current"),
        ({"gpu_mode": "shared"}, "--gpu-mode: 'shared'; one of exclusive, throughput"),
    ],
)
def test_bench_run_refuses_bad_options_before_anything_is_written(tmp_path, options, expected):
    out = tmp_path / "run"
    with pytest.raises(bench.BenchError, match=expected) as caught:
        bench.run(FAKE_SUITE, out=out, console=quiet_console()[0], **options)
    assert caught.value.exit_code == 2 and not out.exists()


def test_bench_run_reads_the_cli_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_QUIET_WAIT", "soon")
    with pytest.raises(bench.BenchError, match="BENCH_QUIET_WAIT: 'soon' is not a number"):
        bench.run(FAKE_SUITE, out=tmp_path / "run", console=quiet_console()[0])
    monkeypatch.setenv("BENCH_QUIET_WAIT", "0")
    monkeypatch.setenv("BENCH_BACKEND", "podman")
    with pytest.raises(bench.BenchError, match="--backend: 'podman'"):
        bench.run(FAKE_SUITE, out=tmp_path / "run", console=quiet_console()[0])


def test_an_interrupted_run_raises_with_how_to_finish_it(tmp_path, monkeypatch):
    """Ctrl-C (SIGINT) while a job runs: the job is killed, the run kept, BenchError exit 130."""
    monkeypatch.setenv("BENCH_FAKE_FAULT", "hang")
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path / "history"))
    out = tmp_path / "run"

    def interrupt_once_started() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(out.glob("logs/*.log")):
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt in the main thread, as Jupyter's stop

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(bench.BenchError) as caught:
        bench.run(FAKE_SUITE, out=out, tasks=["regression"], repeats=1, console=quiet_console()[0])
    assert caught.value.exit_code == 130
    assert str(caught.value) == (
        f"interrupted: finished reports are kept in {out}; finish with bench.run(resume={str(out)!r})"
    )
    assert bench.load(out)._data.meta["state"] == "interrupted"


def _corrupt_run_json(payload: bytes):
    def make(tmp_path: Path) -> tuple[Path, str]:
        root = tmp_path / "run"
        (root / "specs").mkdir(parents=True)
        (root / "run.json").write_bytes(payload)
        return root, str(root / "run.json")

    return make


def _file_and_dir(kind: str):
    def make(tmp_path: Path) -> tuple[Path, str]:
        root = tmp_path / "run"
        if kind == "file":
            root.write_text("not a directory")
        elif kind == "empty":
            root.mkdir()
        elif kind == "run.json is a directory":
            (root / "specs").mkdir(parents=True)
            (root / "run.json").mkdir()
        return root, str(root)

    return make


@pytest.mark.parametrize(
    "make",
    [
        _file_and_dir("missing"),
        _file_and_dir("file"),
        _file_and_dir("empty"),
        _file_and_dir("run.json is a directory"),
        _corrupt_run_json(b"\x00\xffnot json"),
        _corrupt_run_json(b"[1, 2, 3]"),
        _corrupt_run_json(b'{"state": "comp'),
        _corrupt_run_json(DEEP),
    ],
    ids=["missing", "file", "empty", "run.json-dir", "binary", "array", "truncated", "deep"],
)
def test_load_refuses_hostile_run_directories_in_one_line_writing_nothing(tmp_path, make):
    root, named = make(tmp_path)
    before = snapshot(root)
    for attempt in (lambda: bench.load(root), lambda: bench.Run(root).render()):
        with pytest.raises(bench.BenchError) as caught:
            attempt()
        message = str(caught.value)
        assert named in message and "\n" not in message and caught.value.exit_code == 2
        assert snapshot(root) == before
    cli = CliRunner().invoke(app, ["report", str(root)])
    assert cli.exit_code == 2 and f"error: {message}" in cli.output and snapshot(root) == before


def test_a_suite_can_be_named_by_its_name_in_suites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert suite_file(Path("paper")) == SUITES_DIR / "paper.toml" == bench.PAPER_SUITE
    assert suite_file(Path("nope")) == Path("nope")  # the error then names what was typed
    (tmp_path / "paper").write_text("")
    assert suite_file(Path("paper")) == Path("paper")  # a file of that name here comes first


def test_the_package_and_the_console_script_do_not_clash():
    assert Path(bench.__file__).parent == ROOT / "bench"
    script = Path(sys.executable).parent / "bench"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "orchestrate" in result.stdout
