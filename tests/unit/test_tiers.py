"""Tuning tiers (schemas/tiers.py): the suite axis, arm labels, spec ids, and a whole fake run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestrator import plan as planning
from orchestrator.cli import app
from orchestrator.plan import PlanError, load_suite
from schemas import JobSpec, RunReport
from schemas.job import Device, Framework
from schemas.suite import Arm
from schemas.tiers import TUNED, tier_suffix
from tests.jobs import make_spec

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
TIERS_SUITE = ROOT / "tests" / "suites" / "fake-tiers.toml"


def _suite(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(FAKE_SUITE.read_text().replace("repeats = 2", f"repeats = 2\n{lines}", 1))
    return path


def test_a_tuned_arm_is_named_apart_and_matched_keeps_its_name() -> None:
    assert Arm("pytorch", "jit", None, "tuned").label == "pytorch+jit:tuned"
    assert Arm("keras-jax", "jit", "3.14.0", "tuned").label == "keras-jax+jit@3.14.0:tuned"
    assert Arm("pytorch", "jit", None, "matched").label == Arm("pytorch", "jit").label == "pytorch+jit"
    assert tier_suffix("matched") == ""


def test_matched_keeps_every_spec_id_and_tuned_changes_it() -> None:
    spec = make_spec("pytorch", "classification")
    matched = spec.model_copy(update={"tier": "matched"})
    tuned = JobSpec.model_validate({**json.loads(spec.canonical_json()), "tier": "tuned"})
    assert "tier" not in json.loads(spec.canonical_json())  # left out: ids from before tiers stand
    assert matched.spec_id == spec.spec_id and tuned.spec_id != spec.spec_id
    assert Arm.of(tuned).label == "pytorch:tuned"


def test_suite_tiers_plan_one_arm_each_interleaved(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, 'compile = ["none", "jit"]\ntier = ["matched", "tuned"]'))
    assert [a.label for a in suite.arms] == ["fake", "fake:tuned", "fake+jit", "fake+jit:tuned"]
    choices = {t.name: planning.DatasetChoice(t.datasets[0], "test") for t in suite.tasks}
    specs = planning.plan(suite, choices, Device(), cores=1)
    labels = [Arm.of(s).label for s in specs if s.repeat == 0 and s.workload.task == "regression"]
    assert labels == ["fake", "fake:tuned", "fake+jit", "fake+jit:tuned"]
    assert load_suite(_suite(tmp_path, 'tier = "tuned"')).tier == ("tuned",)  # one string, one tier
    assert load_suite(FAKE_SUITE).tier == ("matched",)  # the default


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('tier = ["tuned", "tuned"]', "tier[1]: 'tuned' is listed twice"),
        ('tier = ["fast"]', "tier[0]"),
        ("tier = []", "tier"),
        ('tier = "tuned"\nbaseline = "fake"', "baseline: 'fake' names no arm; the arms are fake:tuned"),
    ],
)
def test_a_bad_tier_is_one_line(tmp_path: Path, lines: str, expected: str) -> None:
    with pytest.raises(PlanError) as info:
        load_suite(_suite(tmp_path, lines))
    message = str(info.value)
    assert expected in message and "\n" not in message and len(message) < 400


def test_tuned_settings_name_only_known_frameworks() -> None:
    # A framework without an entry offers nothing (its tuned jobs run as matched and say so), so
    # a new runner needs no line here until it has something to tune.
    assert set(TUNED) <= set(get_args(Framework))


def test_fake_runner_tier_arms_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four arms: tuned ones are never pooled with matched ones (their own rows, parity pairs and
    compile rows), and each tuned report lists what its tier added."""
    monkeypatch.setenv("BENCH_FAKE_EPOCH_SECONDS", "0.05")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["orchestrate", "--suite", str(TIERS_SUITE), "--out", str(out), "--gpus", "none"]
    )
    assert result.exit_code == 0, result.output
    assert "8 jobs: 8 ok" in result.output
    metrics = pd.read_csv(out / "metrics.csv")
    arms = sorted(metrics.groupby(["arm", "compile", "tier"]).size().index)
    assert arms == [("fake", "none", "matched"), ("fake+jit", "jit", "matched"),
                    ("fake+jit:tuned", "jit", "tuned"), ("fake:tuned", "none", "tuned")]  # fmt: skip
    results = (out / "tables" / "results_regression.md").read_text()
    for arm in ("fake", "fake:tuned", "fake+jit", "fake+jit:tuned"):
        assert f"| {arm} | 2 / 2 |" in results
    compile_csv = pd.read_csv(out / "tables" / "compile.csv").set_index("framework")
    assert compile_csv.loc["fake:tuned", "jit_arm"] == "fake+jit:tuned"
    assert compile_csv.loc["fake", "jit_arm"] == "fake+jit"
    for path in (out / "reports").glob("*.json"):
        report = RunReport.model_validate_json(path.read_text())
        assert report.fairness is not None
        expected = TUNED["fake"] if report.fairness.tier == "tuned" else ()
        assert report.fairness.tuning == expected
    html = (out / "report.html").read_text()
    assert "fake+jit:tuned" in html and "steps_per_execution (simulated" in html


def test_compile_and_tier_options_replace_the_suites_axes(tmp_path: Path) -> None:
    from orchestrator.plan import apply_options

    suite = load_suite(_suite(tmp_path, 'compile = ["none", "jit"]\nbaseline = "fake+jit"'))
    tuned = apply_options(suite, tiers=["tuned"])
    assert [a.label for a in tuned.arms] == ["fake:tuned", "fake+jit:tuned"]
    assert tuned.baseline_arm == "fake:tuned"  # its baseline's arm is gone: the first arm left
    assert [a.label for a in apply_options(suite, compile_modes=["jit"]).arms] == ["fake+jit"]
    with pytest.raises(PlanError) as info:
        apply_options(suite, tiers=["fastest"])
    assert str(info.value).startswith("invalid option --tier: tier[0]") and "\n" not in str(info.value)


def test_tier_option_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_FAKE_EPOCH_SECONDS", "0.01")
    out = tmp_path / "run"
    args = ["orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out), "--gpus", "none", "--tier", "matched,tuned",
            "--tasks", "regression", "--repeats", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "suite.json").read_text())["tier"] == ["matched", "tuned"]
    assert sorted(pd.read_csv(out / "metrics.csv")["arm"].unique()) == ["fake", "fake:tuned"]
    bad = CliRunner().invoke(app, [*args[:-6], "--tier", "fast", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--tier" in bad.output and not (tmp_path / "bad").exists()
