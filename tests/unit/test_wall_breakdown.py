"""Where a run's wall time went (orchestrator/results/breakdown.py): every second of a job's process
lands in exactly one part, and the run's wall time outside the jobs is the orchestrator's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.results import render_run
from orchestrator.results.breakdown import wall_breakdown
from orchestrator.results.tidy import load_run
from tests.unit._factories import make_report, make_spec, write_run


def _timed(spec, train: float, evaluation: float, startup: float, runner: float, wall: float):  # type: ignore[no-untyped-def]
    report = make_report(spec)
    assert report.timing is not None
    timing = report.timing.model_copy(update={"total_train_seconds": train, "evaluation_seconds": evaluation,
                                              "startup_seconds": startup, "runner_seconds": runner})  # fmt: skip
    return report.model_copy(update={"timing": timing, "wall_seconds": wall})


def test_every_second_of_a_job_is_counted_once(tmp_path: Path) -> None:
    a, b = make_spec("pytorch"), make_spec("tensorflow")
    # imports 0.5 + data 0.2 + build 0.1 (factory) + train 10 + evaluation 2 = 12.8 of runner 13.0
    jobs = [(a, _timed(a, 10.0, 2.0, 0.4, 13.0, 14.0)), (b, _timed(b, 20.0, 1.0, 0.6, 22.0, 23.0))]
    meta = {"name": "t", "state": "complete", "wall_seconds": 40.0}
    run_dir = write_run(tmp_path, jobs, meta)
    spent = wall_breakdown(load_run(run_dir), run_dir)
    s = spent.seconds
    assert s["timed training"] == pytest.approx(30.0) and s["evaluation"] == pytest.approx(3.0)
    assert s["bookkeeping"] == pytest.approx(0.2 + 0.2) and s["startup"] == pytest.approx(1.0)
    assert s["process"] == pytest.approx(0.6 + 0.4)
    assert s["orchestrator"] == pytest.approx(40.0 - 14.0 - 23.0)
    assert sum(s.values()) == pytest.approx(40.0)  # nothing counted twice, nothing lost
    assert spent.line().startswith("wall 40 s: timed training 75%, evaluation 7.5%")


def test_each_epochs_setup_is_its_own_part_not_bookkeeping(tmp_path: Path) -> None:
    a = make_spec("pytorch")
    report = _timed(a, 10.0, 2.0, 0.4, 13.0, 14.0)
    assert report.timing is not None
    timing = report.timing.model_copy(update={"epoch_setup_seconds": 0.15})
    run_dir = write_run(tmp_path, [(a, report.model_copy(update={"timing": timing}))],
                        {"name": "t", "state": "complete", "wall_seconds": 15.0})  # fmt: skip
    s = wall_breakdown(load_run(run_dir), run_dir).seconds
    assert s["epoch setup"] == pytest.approx(0.15) and s["bookkeeping"] == pytest.approx(0.2 - 0.15)
    assert sum(s.values()) == pytest.approx(15.0)


def test_the_breakdown_is_written_printed_and_in_the_page(tmp_path: Path) -> None:
    a = make_spec("pytorch")
    run_dir = write_run(tmp_path, [(a, _timed(a, 10.0, 2.0, 0.4, 13.0, 14.0))],
                        {"name": "t", "state": "complete", "wall_seconds": 20.0})  # fmt: skip
    rendered = render_run(run_dir, plots=False)
    assert rendered.wall_time.startswith("wall 20 s: timed training 50%")
    stored = json.loads((run_dir / "tables" / "wall_time.json").read_text())
    assert stored["wall_seconds"] == 20.0 and stored["seconds"]["orchestrator"] == 6.0
    assert "Where the wall time went" in (run_dir / "report.html").read_text()


def test_reports_from_before_the_split_still_add_up(tmp_path: Path) -> None:
    a = make_spec("pytorch")
    run_dir = write_run(tmp_path, [(a, make_report(a))])  # no evaluation/startup/runner, no run wall
    spent = wall_breakdown(load_run(run_dir), run_dir)
    assert "evaluation" not in spent.seconds and "orchestrator" not in spent.seconds and spent.wall is None
    assert spent.line().startswith(f"{sum(spent.seconds.values()):.0f} s in jobs")


def test_each_job_has_its_own_row_and_the_rows_add_up_to_the_sums(tmp_path: Path) -> None:
    a, b = make_spec("pytorch"), make_spec("tensorflow")
    jobs = [(a, _timed(a, 10.0, 2.0, 0.4, 13.0, 14.0)), (b, _timed(b, 20.0, 1.0, 0.6, 22.0, 23.0))]
    run_dir = write_run(tmp_path, jobs, {"name": "t", "state": "complete", "wall_seconds": 40.0})
    spent = wall_breakdown(load_run(run_dir), run_dir)
    assert [j.spec_id for j in spent.jobs] == [a.spec_id, b.spec_id]
    for part in ("timed training", "evaluation", "startup", "bookkeeping", "process"):
        assert sum(j.seconds.get(part, 0.0) for j in spent.jobs) == pytest.approx(spent.seconds[part])
    assert [j.wall for j in spent.jobs] == [14.0, 23.0]
    stored = spent.as_json()["jobs"]
    assert isinstance(stored, list) and stored[0]["spec_id"] == a.spec_id
    table = spent.table()
    assert table.headers[:3] == ("job", "wall s", "timed training")
    assert len(table.rows) == 2 and table.rows[0][1] == "14.0"
    assert "orchestrator" not in table.headers  # a run-level part, not a job's


def test_the_per_job_table_is_in_the_page_and_its_files(tmp_path: Path) -> None:
    a = make_spec("pytorch")
    run_dir = write_run(tmp_path, [(a, _timed(a, 10.0, 2.0, 0.4, 13.0, 14.0))],
                        {"name": "t", "state": "complete", "wall_seconds": 20.0})  # fmt: skip
    rendered = render_run(run_dir, plots=False)
    assert "Where the wall time went, per job" in (run_dir / "report.html").read_text()
    assert (run_dir / "tables" / "wall_time.csv").read_text().startswith("spec_id,")
    assert "| pytorch classification repeat 0 | 14.0 | 10.0 |" in (run_dir / "tables" / "wall_time.md").read_text()
    assert rendered.wall_json["seconds"]["orchestrator"] == 6.0  # what the orchestrator puts in run.json
