"""The results history: one Parquet file per run, replaced not duplicated, safe for concurrent writers,
bad files named and skipped; `bench history` prints and plots a trend, one line per hardware class."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import history
from orchestrator.cli import app
from orchestrator.results.trend import draw_trend, trend_series
from tests.unit._history_runs import timed_run

runner = CliRunner()
DATES = ("2026-01-05T09:00:00+00:00", "2026-02-05T09:00:00+00:00", "2026-03-05T09:00:00+00:00")
FAKE_SUITE = Path(__file__).resolve().parents[1] / "suites" / "fake.toml"


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def three_runs(tmp_path: Path) -> list[Path]:
    """Three runs on one machine, a month apart; the third is 20% slower."""
    return [
        timed_run(tmp_path / f"run{i}", seed=i, name=f"run{i}", date=date, slowdown=1.2 if i == 2 else 1.0)
        for i, date in enumerate(DATES)
    ]


def parquet_files(store: Path) -> list[Path]:
    return sorted(store.rglob("*.parquet"))


def test_three_runs_print_and_plot_a_trend(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = invoke("history", "add", *three_runs(tmp_path), "--store", store)
    assert result.exit_code == 0, result.output
    files = parquet_files(store)
    assert len(files) == 3
    assert all(
        f.parent.parent.name == "hardware=synthetic-cpu-x2" and f.parent.name == "suite=paper" for f in files
    )

    plot = tmp_path / "trend.png"
    result = invoke(
        "history", "--store", store, "--task", "classification", "--arm", "pytorch", "--plot", plot
    )
    assert result.exit_code == 0, result.output
    assert "3 runs, 1 hardware class (Synthetic CPU x2)" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| 2026-")]
    assert [row.split(" | ")[1] for row in rows] == ["run0", "run1", "run2"]  # date order
    assert all(" | pytorch | 2.13.0 | host: Synthetic CPU, 2 CPUs | 5 | " in row for row in rows)
    assert "regression" not in result.output and "tensorflow" not in result.output
    assert plot.read_bytes().startswith(b"\x89PNG")

    frame = history.trend(history.read_store(store), task="classification")
    steady = [s for s in trend_series(frame) if s.criterion == "epoch time" and s.arm == "pytorch"]
    assert len(steady) == 1 and len(steady[0].median) == 3
    first, _, last = steady[0].median
    assert last / first == pytest.approx(1.2, rel=0.06)  # the injected slowdown shows in the trend


def test_another_hardware_class_is_its_own_line_and_table_never_merged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for run in three_runs(tmp_path):
        history.add_run(run, store)
    other = timed_run(tmp_path / "other", seed=9, name="other", date="2026-02-20T09:00:00+00:00",
                      cpu_model="Other CPU")  # fmt: skip
    history.add_run(other, store)
    assert {f.parent.parent.name for f in parquet_files(store)} == {
        "hardware=synthetic-cpu-x2",
        "hardware=other-cpu-x2",
    }

    frame = history.trend(history.read_store(store), task="regression")
    lines = {(s.arm, s.hardware): len(s.median) for s in trend_series(frame) if s.criterion == "epoch time"}
    assert lines == {("pytorch", "Synthetic CPU x2"): 3, ("tensorflow", "Synthetic CPU x2"): 3,
                     ("pytorch", "Other CPU x2"): 1, ("tensorflow", "Other CPU x2"): 1}  # fmt: skip
    figure = draw_trend(frame)
    labels = sorted(line.get_label() for line in figure.axes[0].get_lines())
    assert labels == ["pytorch · Other CPU x2", "pytorch · Synthetic CPU x2",
                      "tensorflow · Other CPU x2", "tensorflow · Synthetic CPU x2"]  # fmt: skip

    result = invoke("history", "--store", store, "--task", "regression")
    assert result.exit_code == 0, result.output
    assert "4 runs, 2 hardware classes (Other CPU x2 | Synthetic CPU x2)" in result.output
    titles = [line for line in result.output.splitlines() if line.startswith("### ")]
    assert titles == ["### regression · suite paper · hardware Other CPU x2",
                      "### regression · suite paper · hardware Synthetic CPU x2"]  # fmt: skip
    other_table = result.output.split(titles[1])[0]
    assert "| other |" in other_table and "| run0 |" not in other_table


def test_adding_a_run_again_replaces_its_file(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = three_runs(tmp_path)[0]
    first = history.add_run(run, store)
    before = history.read_store(store).table.num_rows
    assert history.add_run(run, store) == first
    assert parquet_files(store) == first
    assert history.read_store(store).table.num_rows == before
    # A copy of the run directory elsewhere is the same run (name, start time, machine).
    copy = timed_run(tmp_path / "copy", seed=0, name="run0", date=DATES[0])
    assert history.add_run(copy, store) == first
    assert history.trend(history.read_store(store))["run_id"].nunique() == 1


def _add_many(run: str, store: str, times: int) -> None:
    for _ in range(times):
        history.add_run(Path(run), Path(store))


def test_concurrent_writers_never_corrupt_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    runs = three_runs(tmp_path)
    # Four processes: two add the same run at once, two others add different runs, 10 times each.
    jobs = [runs[0], runs[0], runs[1], runs[2]]
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_add_many, args=(str(r), str(store), 10)) for r in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    found = history.read_store(store)
    assert found.problems == ()
    assert len(parquet_files(store)) == 3
    assert not [p for p in store.rglob("*") if p.name.startswith(".")]  # no temp file left behind
    assert found.table.num_rows == sum(history.run_rows(r).shape[0] for r in runs)


def test_corrupt_and_foreign_files_are_named_and_skipped(tmp_path: Path) -> None:
    import pandas as pd

    store = tmp_path / "store"
    for run in three_runs(tmp_path):
        history.add_run(run, store)
    good = parquet_files(store)[0]
    bad = {
        "truncated.parquet": good.read_bytes()[:200],
        "garbage.parquet": b"PAR1 not really parquet PAR1",
        "notes.txt": b"team notes",
    }
    for name, data in bad.items():
        (store / name).write_bytes(data)
    pd.DataFrame({"x": [1, 2]}).to_parquet(store / "foreign.parquet")
    (store / ".inflight.parquet.tmp").write_bytes(b"half")  # another writer's temp file: not ours to judge

    result = invoke("history", "--store", store)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4
    for name in (*bad, "foreign.parquet"):
        assert sum(str(store / name) in w for w in warnings) == 1
    assert "foreign.parquet: skipped, not a history file (no column store_version)" in result.output
    assert "3 runs, 1 hardware class" in result.output


def test_store_location_option_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_HISTORY_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert history.store_dir() == tmp_path / "home" / ".cache/bench/history"
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path / "team"))
    assert history.store_dir() == tmp_path / "team"
    assert history.store_dir(tmp_path / "mine") == tmp_path / "mine"
    run = three_runs(tmp_path)[0]
    assert invoke("history", "add", run).exit_code == 0
    assert len(parquet_files(tmp_path / "team")) == 1
    result = invoke("history")
    assert result.exit_code == 0 and "1 run, 1 hardware class" in result.output
    result = invoke("history", "--suite", "other")
    assert (
        result.exit_code == 0 and "no runs in the history" in result.output and "suite other" in result.output
    )


def test_user_errors_are_one_line_exit_2_nothing_written(tmp_path: Path) -> None:
    store = tmp_path / "store"
    good = three_runs(tmp_path)[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("history", "add", good, empty, "--store", store)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {empty} is not a run directory (no specs/ inside)"]
    assert not store.exists()  # the good run was not added either: all or nothing

    result = invoke("history", "--store", store, "--plot", tmp_path / "trend.jpg")
    assert result.exit_code == 2 and "--plot" in result.output and ".png or .svg" in result.output
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = invoke("history", "--store", a_file)
    assert result.exit_code == 2 and f"--store {a_file}: not a directory" in result.output


def test_orchestrate_appends_the_finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path / "store"))
    result = invoke(
        "orchestrate", "--suite", FAKE_SUITE, "--out", tmp_path / "run", "--repeats", "1", "--gpus", "none"
    )
    assert result.exit_code == 0, result.output
    assert f"added to the history in {tmp_path / 'store'}" in result.output
    frame = history.trend(history.read_store(tmp_path / "store"))
    assert set(frame["task"]) == {"classification", "regression"} and set(frame["arm"]) == {"fake"}
    # The suite's name and its planned tasks' hash: a --quick or shortened run is its own line.
    (suite,) = set(frame["suite"])
    assert suite.startswith("fake~") and len(suite) == len("fake~") + 8


def test_a_failure_to_append_is_one_warning_never_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store's directory should be")
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(blocked))
    result = invoke(
        "orchestrate", "--suite", FAKE_SUITE, "--out", tmp_path / "run", "--repeats", "1", "--gpus", "none"
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "not added to the history" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: not added to the history in {blocked}: ")


def test_a_shortened_run_of_a_suite_is_its_own_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path / "store"))
    for name, extra in (("full", []), ("short", ["--epochs-override", "2"])):
        result = invoke("orchestrate", "--suite", FAKE_SUITE, "--out", tmp_path / name, "--repeats", "1",
                        "--gpus", "none", *extra)  # fmt: skip
        assert result.exit_code == 0, result.output
    frame = history.trend(history.read_store(tmp_path / "store"))
    lines = frame.groupby("suite")["run_id"].nunique()
    assert len(lines) == 2 and set(lines) == {1}, lines  # never pooled: one run per suite label
    assert all(str(label).startswith("fake~") for label in lines.index)
