"""Loading a run directory and the tidy metrics table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestrator.results.tidy import COLUMNS, final_frame, load_run, metrics_frame, write_metrics
from tests.unit._factories import make_report, make_spec, paper_run, write_run


def test_metrics_frame_rows_and_columns(tmp_path: Path) -> None:
    run = load_run(paper_run(tmp_path, repeats=2, epochs=3))
    frame = metrics_frame(run)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 2 * 2 * 2 * 3  # tasks x frameworks x repeats x epochs
    assert set(frame["status"]) == {"ok"}
    keys = list(zip(frame["task"], frame["framework"], frame["repeat"], frame["epoch"], strict=True))
    assert keys == sorted(keys)
    first = frame.iloc[0]
    assert (first["task"], first["framework"], first["repeat"], first["epoch"]) == (
        "classification", "pytorch", 0, 1,
    )  # fmt: skip
    assert first["setup_seconds"] == pytest.approx(0.8)
    assert first["metric"] == "accuracy" and first["dataset"] == "mnist-5k"
    # cumulative time is the running sum of epoch times within a job
    job = frame[frame["spec_id"] == first["spec_id"]]
    assert job["cumulative_seconds"].tolist() == pytest.approx(job["train_seconds"].cumsum().tolist())


def test_job_without_epochs_keeps_one_row(tmp_path: Path) -> None:
    spec = make_spec("pytorch")
    report = make_report(spec, status="error", n_epochs=0, error="CUDA exploded", exit_code=1)
    run = load_run(write_run(tmp_path, [(spec, report)]))
    frame = metrics_frame(run)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert pd.isna(row["epoch"]) and row["status"] == "error"
    assert row["reason"] == "RuntimeError: CUDA exploded" and row["exit_code"] == 1


def test_bad_and_missing_reports_become_crashed_rows(tmp_path: Path) -> None:
    good = make_spec("pytorch", repeat=0)
    specs = [make_spec("pytorch", repeat=r) for r in range(1, 6)]
    other = make_spec("tensorflow", repeat=0)
    jobs = [
        (good, make_report(good)),
        (specs[0], None),  # never reported
        (specs[1], "{not json"),  # truncated file
        (specs[2], '{"spec_id": "x"}'),  # fails validation
        (specs[3], make_report(other)),  # someone else's report
        (specs[4], make_report(specs[4], exit_code=137)),  # says ok, process was killed
    ]
    root = write_run(tmp_path, jobs)
    (root / "specs" / "broken.json").write_text(
        '{"framework": "pytorch", "workload": {"task": "regression"}}'
    )
    (root / "reports" / "orphan.json").write_text("{}")
    run = load_run(root)
    by_id = {j.spec_id: j for j in run.jobs}
    assert by_id[good.spec_id].status == "ok"
    reasons = {s.spec_id: by_id[s.spec_id].reason for s in specs}
    assert all(by_id[s.spec_id].status == "crashed" for s in specs)
    assert reasons[specs[0].spec_id] == "no report was written"
    assert (
        reasons[specs[1].spec_id].startswith("report unreadable: ")
        and "not valid JSON" in reasons[specs[1].spec_id]
    )
    assert reasons[specs[2].spec_id].startswith("report failed validation:")
    assert "report is for spec" in reasons[specs[3].spec_id]
    assert reasons[specs[4].spec_id] == "report says ok but the runner exited with code 137"
    broken = by_id["broken"]
    assert broken.status == "crashed" and broken.reason.startswith("spec failed validation")
    assert (broken.framework, broken.task) == ("pytorch", "regression")
    assert run.problems == ("report without a spec ignored: orphan.json",)

    frame = metrics_frame(run)
    crashed = frame[frame["status"] == "crashed"]
    assert sorted(crashed["spec_id"].unique()) == sorted([*reasons, "broken"])
    # The killed job keeps its epochs (as evidence); the others have one row with no epoch.
    assert crashed.groupby("spec_id")["epoch"].count().to_dict()[specs[4].spec_id] == 20
    assert crashed[crashed["spec_id"] != specs[4].spec_id]["epoch"].isna().all()
    final = final_frame(frame)
    assert len(final) == len(run.jobs)


def test_missing_run_json_and_empty_dir(tmp_path: Path) -> None:
    run = load_run(tmp_path)
    assert run.jobs == () and run.name == tmp_path.name and run.state == "unknown"
    assert "run.json is missing" in run.problems
    assert tuple(metrics_frame(run).columns) == COLUMNS
    (tmp_path / "run.json").write_text("[1, 2")
    assert any(p.startswith("run.json is unreadable") for p in load_run(tmp_path).problems)


def test_write_metrics_csv_and_parquet(tmp_path: Path) -> None:
    run = load_run(paper_run(tmp_path / "run", repeats=1, epochs=2))
    paths = write_metrics(run, tmp_path / "out")
    assert [p.name for p in paths] == ["metrics.csv", "metrics.parquet"]
    csv = pd.read_csv(paths[0])
    assert tuple(csv.columns) == COLUMNS and len(csv) == 2 * 2 * 2
    assert len(pd.read_parquet(paths[1])) == len(csv)
    assert not list((tmp_path / "out").glob(".*.tmp"))
