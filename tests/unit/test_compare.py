"""`bench compare RUN_A RUN_B`: an injected slowdown is flagged, A/A flags nothing, hostile input is
one line and exit 2; the flag rule's false-alarm and detection rates by simulation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.results.compare import compare_runs, judge_change
from tests.unit._factories import make_report, make_spec, write_run
from tests.unit._history_runs import timed_run

runner = CliRunner()
TIMES = ("time", "epoch time")


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def changes(a: Path, b: Path) -> dict[tuple[str, str, str], str]:
    return {(line.task, line.arm, line.criterion): line.change for line in compare_runs(a, b).lines}


def test_injected_20_percent_slowdown_is_a_regression(tmp_path: Path) -> None:
    a = timed_run(tmp_path / "a", seed=1)
    b = timed_run(tmp_path / "b", seed=2, slowdown=1.2)
    comparison = compare_runs(a, b)
    times = [line for line in comparison.lines if line.criterion in TIMES]
    assert len(times) == 8  # 2 tasks x 2 frameworks x 2 time criteria
    assert all(line.change == "regression" for line in times)
    assert all(line.verdict.ci_lo <= 1.2 <= line.verdict.ci_hi for line in times)
    assert all(line.detail.startswith("B slower by") for line in times)
    quality = [line for line in comparison.lines if line.criterion == "quality"]
    assert quality and all(line.change == "no change" for line in quality)

    result = invoke("compare", a, b)
    assert result.exit_code == 0, result.output
    assert "| classification | pytorch | epoch time | Synthetic CPU x2 |" in result.output
    assert "8 regressions, 0 improvements, 4 no change (margin ±5%)" in result.output
    result = invoke("compare", a, b, "--fail-on-regression")
    assert result.exit_code == 1
    assert "8 regressions" in result.output


def test_a_a_runs_flag_nothing(tmp_path: Path) -> None:
    a = timed_run(tmp_path / "a", seed=11)
    b = timed_run(tmp_path / "b", seed=12)
    assert set(changes(a, b).values()) == {"no change"}
    result = invoke("compare", a, b, "--fail-on-regression")
    assert result.exit_code == 0, result.output
    assert "0 regressions, 0 improvements, 12 no change" in result.output


def test_speedup_and_better_quality_are_improvements_worse_quality_a_regression(tmp_path: Path) -> None:
    a = timed_run(tmp_path / "a", seed=21)
    faster = timed_run(tmp_path / "b", seed=22, slowdown=0.8, quality=1.3, tasks=("regression",))
    found = changes(a, faster)
    # Regression's metric is MSE (lower is better): a higher MSE (by ~12% after 4 epochs) is worse.
    assert found[("regression", "pytorch", "time")] == "improvement"
    assert found[("regression", "tensorflow", "epoch time")] == "improvement"
    assert found[("regression", "pytorch", "quality")] == "regression"
    assert {task for task, _, _ in found} == {"regression"}  # the task only A ran is left out
    better = timed_run(tmp_path / "c", seed=23, quality=1.1, tasks=("classification",))
    assert changes(a, better)[("classification", "tensorflow", "quality")] == "improvement"


def test_margin_is_the_larger_recorded_one(tmp_path: Path) -> None:
    a = timed_run(tmp_path / "a", seed=31, meta={"margin": 0.3})
    b = timed_run(tmp_path / "b", seed=32, slowdown=1.2)
    comparison = compare_runs(a, b)
    assert comparison.margin == pytest.approx(0.3)
    # 20% lies inside a 30% margin (a noisy machine's A/A floor): not flagged.
    assert all(line.change == "no change" for line in comparison.lines)
    assert "margin ±30%" in invoke("compare", a, b).output


def test_different_hardware_is_refused_unless_allowed_then_every_line_says_mixed(tmp_path: Path) -> None:
    a = timed_run(tmp_path / "a", seed=41)
    b = timed_run(tmp_path / "b", seed=42, cpu_model="Other CPU")
    result = invoke("compare", a, b)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Synthetic CPU x2" in lines[0] and "Other CPU x2" in lines[0]
    result = invoke("compare", a, b, "--allow-mixed-hardware")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| classification")]
    assert len(rows) == 6 and all("MIXED: A Synthetic CPU x2; B Other CPU x2" in row for row in rows)
    assert "[MIXED HARDWARE]" in result.output


def _one_line_error(result, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0]


def test_hostile_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    good = timed_run(tmp_path / "good", seed=51)
    missing, empty, a_file = tmp_path / "missing", tmp_path / "empty", tmp_path / "file.txt"
    empty.mkdir()
    a_file.write_text("not a run")
    for bad in (missing, empty, a_file):
        _one_line_error(invoke("compare", good, bad), str(bad), "not a run directory")
        _one_line_error(invoke("compare", bad, good), str(bad), "not a run directory")

    spec = make_spec("pytorch", "classification")
    failed = write_run(
        tmp_path / "failed", [(spec, make_report(spec, status="oom", n_epochs=0, error="oom"))]
    )
    _one_line_error(invoke("compare", good, failed), str(failed), "no job ended ok")

    other = timed_run(tmp_path / "other", seed=52, tasks=("regression",), frameworks=("tensorflow",))
    only = timed_run(tmp_path / "only", seed=53, tasks=("classification",), frameworks=("tensorflow",))
    _one_line_error(invoke("compare", only, other), str(only), str(other), "no task and arm in common")

    garbage = timed_run(tmp_path / "garbage", seed=54)
    (garbage / "run.json").write_text("{not json")
    for report in (garbage / "reports").glob("*.json"):
        report.write_text(json.dumps({"status": "ok"}))
    _one_line_error(invoke("compare", good, garbage), str(garbage), "no job ended ok")


def simulate(trials: int, slowdown: float, sigma: float = 0.025, seed: int = 0) -> float:
    """The share of A/B pairs (5 vs 5 repeats, lognormal noise) flagged as a regression."""
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        a = np.exp(sigma * rng.standard_normal(5))
        b = slowdown * np.exp(sigma * rng.standard_normal(5))
        flagged += judge_change(a, b, "lower", 0.05)[1] != "no change"
    return flagged / trials


def test_false_alarm_and_detection_rates() -> None:
    """The flag rule at 5 vs 5 repeats, 2.5% lognormal noise, m = 5%: under A/A any flag (either way)
    is a false alarm, bounded by 8/252 = 3.2% whatever the noise (the 95% interval's exact coverage);
    a 20% slowdown is far beyond the noise and the margin, so it must be caught nearly always."""
    false_alarm = simulate(400, 1.0, seed=1)
    detection = simulate(400, 1.2, seed=2)
    assert false_alarm <= 8 / 252
    assert detection >= 0.99
    # A slowdown inside the margin is never a regression, however significant (asv's threshold).
    assert simulate(200, 1.03, sigma=0.005, seed=3) == 0.0
