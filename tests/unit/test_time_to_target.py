"""Time to target: the suite's `target`, each job's first epoch and seconds to it, and its verdict."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.plan import DatasetChoice, PlanError, load_suite, plan
from orchestrator.results import _verdict_phrase
from orchestrator.results.stats import verdict
from orchestrator.results.tables import build_tables, winner_rows
from orchestrator.results.tidy import final_frame, load_run, metrics_frame, time_to_target, write_metrics
from schemas.errors import describe
from schemas.job import Device
from schemas.report import RunReport
from schemas.suite import Suite
from tests.unit._factories import make_report, make_spec, write_run

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
INF = math.inf


def suite_with_targets(tmp_path: Path, classification: str | None, regression: str | None) -> Path:
    """tests/suites/fake.toml with `target = ...` lines (TOML text as given) in its two tasks."""
    text = FAKE_SUITE.read_text()
    if classification is not None:
        text = text.replace(
            "max_train_samples = 300\n", f"max_train_samples = 300\ntarget = {classification}\n"
        )
    if regression is not None:
        text = text.replace("epochs = 4\n", f"epochs = 4\ntarget = {regression}\n")
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


# --- the suite field ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classification", "regression", "message"),
    [
        ("nan", None, "tasks[0].target: Input should be a finite number"),
        ("inf", None, "tasks[0].target: Input should be a finite number"),
        (None, "-inf", "tasks[1].target: Input should be a finite number"),
        ("0", None, "tasks[0].target: is 0.0; an accuracy target must be in (0, 1]"),
        ("1.5", None, "tasks[0].target: is 1.5; an accuracy target must be in (0, 1]"),
        ("-0.2", None, "tasks[0].target: is -0.2; an accuracy target must be in (0, 1]"),
        (None, "0.0", "tasks[1].target: is 0.0; an MSE target must be above 0"),
        (None, "-1", "tasks[1].target: is -1.0; an MSE target must be above 0"),
        ('"0.9"', None, "tasks[0].target: Input should be a valid number, got '0.9'"),
        ("true", None, "tasks[0].target: Input should be a valid number, got True"),
    ],
)
def test_hostile_targets_are_one_line_naming_the_field(
    tmp_path: Path, classification: str | None, regression: str | None, message: str
) -> None:
    path = suite_with_targets(tmp_path, classification, regression)
    with pytest.raises(PlanError) as caught:
        load_suite(path)
    text = str(caught.value)
    assert text.startswith(f"invalid suite {path}: ") and message in text and "\n" not in text


def test_valid_targets_and_no_target() -> None:
    assert [t.target for t in load_suite(ROOT / "suites" / "paper.toml").tasks] == [0.88, 1.1]
    assert [t.target for t in load_suite(FAKE_SUITE).tasks] == [None, None]


def test_accuracy_target_of_one_and_integer_mse_target(tmp_path: Path) -> None:
    suite = load_suite(suite_with_targets(tmp_path, "1", "2"))
    assert [t.target for t in suite.tasks] == [1.0, 2.0]


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70),
    index=st.sampled_from([0, 1]),
)
def test_any_target_is_valid_exactly_when_the_metric_can_reach_it(value: float, index: int) -> None:
    doc: dict[str, Any] = tomllib.loads(FAKE_SUITE.read_text())
    doc["tasks"][index]["target"] = value
    number = float(value)
    fits = math.isfinite(number) and (0 < number <= 1 if index == 0 else number > 0)
    try:
        suite = Suite.model_validate(doc)
    except ValidationError as exc:
        assert not fits
        line = describe(exc, "suite.toml")
        assert line.startswith(f"suite.toml: tasks[{index}].target: ") and "\n" not in line
    else:
        assert fits and suite.tasks[index].target == number


def test_a_target_does_not_change_any_spec_id(tmp_path: Path) -> None:
    """A target only reads the results: the same jobs, the same ids (and resumable runs)."""
    choices = {
        "classification": DatasetChoice("mnist-5k", "test"),
        "regression": DatasetChoice("petrol", "test"),
    }
    without = plan(load_suite(FAKE_SUITE), choices, Device())
    with_targets = plan(load_suite(suite_with_targets(tmp_path, "0.5", "0.9")), choices, Device())
    assert [s.spec_id for s in with_targets] == [s.spec_id for s in without] and len(without) == 4


# --- per job -------------------------------------------------------------------------------------------


def job_for(report: RunReport, target: float | None, status: str = "ok") -> Any:
    from orchestrator.results.tidy import Job

    return Job(report.spec_id, None, report, status, "", target=target)


def test_first_epoch_reaching_the_target_and_its_cumulative_seconds() -> None:
    # make_report: accuracy 0.65 after epoch 3 and 0.74 after epoch 4; MSE 1.08 after epoch 3, 0.87 after 4.
    cls = make_report(make_spec("pytorch", "classification", epochs=6))
    assert time_to_target(job_for(cls, 0.7)) == {
        "target": 0.7, "epochs_to_target": 4, "seconds_to_target": cls.epochs[3].cumulative_seconds,
    }  # fmt: skip
    reg = make_report(make_spec("pytorch", "regression", epochs=6), final_val=0.34)
    assert time_to_target(job_for(reg, 1.0))["epochs_to_target"] == 4  # MSE falls to its target
    assert time_to_target(job_for(reg, 5.0))["epochs_to_target"] == 1


def test_never_reached_is_inf_for_an_ok_job_and_unknown_for_a_failed_one() -> None:
    report = make_report(make_spec("tensorflow", "classification", epochs=6), final_val=0.6)
    assert time_to_target(job_for(report, 0.7)) == {"target": 0.7, "seconds_to_target": INF}
    assert time_to_target(job_for(report, 0.7, status="error")) == {"target": 0.7, "seconds_to_target": None}
    assert time_to_target(job_for(report, None)) == {"target": None}


# --- a run: tidy columns, tables, verdicts -------------------------------------------------------------


def write_suite_json(root: Path, classification: float | None, epochs: int = 6) -> None:
    """The stored suite of a run made by tests.unit._factories (same training settings)."""
    doc: dict[str, Any] = tomllib.loads((ROOT / "suites" / "paper.toml").read_text())
    del doc["tasks"][1]
    task = doc["tasks"][0]
    task.update(datasets=["mnist-5k"], epochs=epochs, target=classification)
    if classification is None:
        del task["target"]
    (root / "suite.json").write_text(Suite.model_validate(doc).model_dump_json())


def target_run(
    root: Path, tf_reaches: int, tf_epoch_seconds: float = 1.0, target: float | None = 0.7
) -> Path:
    """5 repeats: pytorch reaches 0.7 at epoch 4 every time (0.7 s epochs); tensorflow in the first
    `tf_reaches` repeats only (its others level off at 0.6)."""
    jobs: list[tuple[Any, RunReport | str | None]] = []
    for repeat in range(5):
        pt, tf = (
            make_spec("pytorch", repeat=repeat, epochs=6),
            make_spec("tensorflow", repeat=repeat, epochs=6),
        )
        jobs.append((pt, make_report(pt, epoch_seconds=0.7)))
        final = 0.97 if repeat < tf_reaches else 0.6
        jobs.append((tf, make_report(tf, epoch_seconds=tf_epoch_seconds, final_val=final)))
    write_run(root, jobs)
    write_suite_json(root, target)
    return root


def to_target_row(root: Path) -> Any:
    rows = winner_rows(final_frame(metrics_frame(load_run(root))))
    (row,) = [r for r in rows if r.criterion == "time to target"]
    return row


def test_an_arm_that_never_reaches_the_target_loses_and_no_job_is_dropped(tmp_path: Path) -> None:
    row = to_target_row(target_run(tmp_path, tf_reaches=0))
    v = row.verdict
    assert row.measure == "seconds_to_target" and row.target == "val accuracy >= 0.7"
    assert v.outcome == "better" and v.winner == "pytorch" and (v.n_a, v.n_b) == (5, 5)
    assert v.median_b == INF and v.ratio == 0.0
    assert v.text == "pytorch faster: pytorch reached the target in 5/5 jobs, tensorflow in 0/5"
    assert _verdict_phrase(row) == "time to target pytorch faster"  # never "inf faster"


def test_a_mixed_arm_ranks_below_one_that_always_reaches_it(tmp_path: Path) -> None:
    # tensorflow reaches it in 2 of 5 jobs, those faster than any of pytorch's: the inf seconds of the
    # other three rank it below (median inf, ratio 0), with too few repeats to call it at 5 vs 5.
    row = to_target_row(target_run(tmp_path / "fast", tf_reaches=2, tf_epoch_seconds=0.5))
    v = row.verdict
    assert (v.n_a, v.n_b) == (5, 5) and v.median_b == INF and v.ratio == 0.0
    assert v.outcome == "inconclusive" and v.repeats is not None
    assert v.text.endswith("; pytorch reached the target in 5/5 jobs, tensorflow in 2/5")
    # Its two reached jobs slower too: every pair favours pytorch, and the verdict says so.
    slow = to_target_row(target_run(tmp_path / "slow", tf_reaches=2, tf_epoch_seconds=1.4)).verdict
    assert slow.outcome == "better" and slow.winner == "pytorch" and (slow.n_a, slow.n_b) == (5, 5)
    assert "tensorflow in 2/5" in slow.text


def test_every_job_reaching_it_is_an_ordinary_time_verdict(tmp_path: Path) -> None:
    v = to_target_row(target_run(tmp_path, tf_reaches=5)).verdict
    assert v.winner == "pytorch" and v.text.startswith("pytorch faster by 44%") and "reached" not in v.text


def test_no_job_reaching_it_gets_no_verdict(tmp_path: Path) -> None:
    row = to_target_row(target_run(tmp_path, tf_reaches=0, target=0.99))
    assert row.verdict is None and row.note == "no job reached the target (pytorch 0/5, tensorflow 0/5)"


def test_without_a_target_there_is_no_time_to_target_criterion(tmp_path: Path) -> None:
    root = target_run(tmp_path, tf_reaches=5, target=None)
    final = final_frame(metrics_frame(load_run(root)))
    assert final["target"].isna().all() and final["seconds_to_target"].isna().all()
    tables, rows = build_tables(final)
    assert "time to target" not in {r.criterion for r in rows}
    assert "the suite sets no target for this task" in tables[0].caption


def test_tidy_columns_and_results_table(tmp_path: Path) -> None:
    root = target_run(tmp_path, tf_reaches=2)
    write_metrics(load_run(root), root)
    csv = pd.read_csv(root / "metrics.csv")
    last = csv[csv["epoch"] == 6].set_index(["framework", "repeat"])
    assert last.loc[("pytorch", 0), ["target", "epochs_to_target"]].tolist() == [0.7, 4]
    assert last.loc[("tensorflow", 4), "seconds_to_target"] == INF  # written as "inf", read back as inf
    assert pd.isna(last.loc[("tensorflow", 4), "epochs_to_target"])
    table = build_tables(final_frame(metrics_frame(load_run(root))))[0][0]
    cells = dict(zip(table.headers, table.rows[1], strict=True))  # tensorflow
    assert cells["epochs to target"] == "inf (4–inf), reached 2/5"
    assert cells["time to target (s)"].startswith("inf (") and cells["time to target (s)"].endswith(
        ", reached 2/5"
    )
    assert dict(zip(table.headers, table.rows[0], strict=True))["epochs to target"] == "4 (4–4)"
    assert "Time to target (val accuracy >= 0.7, the suite's target)" in table.caption
    raw = dict(zip(table.csv_headers, table.csv_rows[1], strict=True))
    assert (raw["target"], raw["n_reached_target"], raw["seconds_to_target_n"]) == ("0.7", "2", "5")


def test_an_unreadable_stored_suite_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    root = target_run(tmp_path, tf_reaches=5)
    (root / "suite.json").write_text('{"name": 3}')
    run = load_run(root)
    assert any(p.startswith("suite.json is unreadable, so no time to target is shown") for p in run.problems)
    assert all(job.target is None for job in run.jobs)


def test_censored_verdicts_keep_inf_and_match_ordinary_ones_without_it() -> None:
    a, b = [10.0, 11.0, 12.0, 13.0, 14.0], [15.0, 16.0, 17.0, 18.0, 19.0]
    plain = verdict(a, b, better="lower", adjective="faster")
    assert verdict(a, b, better="lower", adjective="faster", censored=True) == plain
    never = verdict(a, [INF] * 5, better="lower", name_a="x", name_b="y", adjective="faster", censored=True)
    assert never.winner == "x" and never.n_b == 5 and never.p_value == pytest.approx(2 / 252, rel=0.1)
    # Without `censored`, inf is not a number to compare and is left out, as for every other criterion.
    assert verdict(a, [INF] * 5, better="lower").n_b == 0
    with pytest.raises(ValueError, match="lower-is-better"):
        verdict(a, b, better="higher", censored=True)
