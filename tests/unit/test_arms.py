"""Arms: framework x compile mode in the suite, the plan, the fake runner and a whole run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestrator import plan as planning
from orchestrator.cli import app
from orchestrator.plan import PlanError, apply_options, load_suite
from schemas.job import Device
from schemas.suite import Arm

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
COMPILE_SUITE = ROOT / "tests" / "suites" / "fake-compile.toml"
TWO_FRAMEWORKS = FAKE_SUITE.read_text().replace('frameworks = ["fake"]', 'frameworks = ["fake", "pytorch"]')


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


def _with(text: str, lines: str) -> str:
    return text.replace("repeats = 2", f"repeats = 2\n{lines}", 1)


def test_an_arm_is_named_by_its_framework_unless_compiled() -> None:
    assert Arm("pytorch").label == "pytorch"
    assert Arm("pytorch", "jit").label == "pytorch+jit"


def test_suite_arms_and_default_baseline(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, _with(TWO_FRAMEWORKS, 'compile = ["none", "jit"]')))
    assert [a.label for a in suite.arms] == ["fake", "fake+jit", "pytorch", "pytorch+jit"]
    assert suite.baseline_arm == "fake"
    assert load_suite(FAKE_SUITE).compile == ("none",)  # the default: today's suites are unchanged


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('compile = ["jit", "jit"]', "compile[1]: 'jit' is listed twice"),
        ('compile = ["aot"]', "compile[0]"),
        ("compile = []", "compile"),
        ('baseline = "pytorch+jit"', "baseline: 'pytorch+jit' names no arm; the arms are fake, pytorch"),
        ('baseline = "' + "x" * 5000 + '"', "baseline: String should have at most 100 characters"),
    ],
)
def test_a_bad_compile_or_baseline_is_one_line(tmp_path: Path, lines: str, expected: str) -> None:
    with pytest.raises(PlanError) as info:
        load_suite(_suite(tmp_path, _with(TWO_FRAMEWORKS, lines)))
    message = str(info.value)
    assert expected in message and "\n" not in message and len(message) < 400


def _specs(tmp_path: Path, text: str) -> list:  # type: ignore[type-arg]
    suite = load_suite(_suite(tmp_path, text))
    choices = {t.name: planning.DatasetChoice(t.datasets[0], "test") for t in suite.tasks}
    return planning.plan(suite, choices, Device(), cores=1)


def test_the_plan_interleaves_every_arm_per_repeat(tmp_path: Path) -> None:
    specs = _specs(tmp_path, _with(TWO_FRAMEWORKS, 'compile = ["none", "jit"]'))
    order = [(s.repeat, s.workload.task, Arm.of(s).label) for s in specs]
    arms = ["fake", "fake+jit", "pytorch", "pytorch+jit"]
    assert order == [(r, t, a) for r in range(2) for t in ("classification", "regression") for a in arms]
    assert len({s.spec_id for s in specs}) == len(specs)


def test_compile_none_keeps_every_spec_id(tmp_path: Path) -> None:
    """A suite that spells out the default gets the very specs (ids included) of one that does not."""
    before = [s.spec_id for s in _specs(tmp_path, TWO_FRAMEWORKS)]
    assert [s.spec_id for s in _specs(tmp_path, _with(TWO_FRAMEWORKS, 'compile = ["none"]'))] == before


def test_narrowing_the_frameworks_drops_a_baseline_left_without_its_arm(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, _with(TWO_FRAMEWORKS, 'baseline = "pytorch"')))
    assert apply_options(suite, frameworks=["fake"]).baseline_arm == "fake"
    assert apply_options(suite, frameworks=["pytorch"]).baseline_arm == "pytorch"


def test_fake_runner_compile_arms_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake runner's jit arm: a slower first epoch, faster steady ones, so the run shows two arms
    in every table, a parity pair between them and the compile table with its break-even."""
    monkeypatch.setenv("BENCH_FAKE_EPOCH_SECONDS", "0.05")  # well above a busy machine's sleep jitter
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["orchestrate", "--suite", str(COMPILE_SUITE), "--out", str(out), "--gpus", "none"])
    assert result.exit_code == 0, result.output
    assert "4 jobs: 4 ok" in result.output
    metrics = pd.read_csv(out / "metrics.csv")
    assert sorted(metrics.groupby(["arm", "compile"]).size().index) == [("fake", "none"), ("fake+jit", "jit")]
    final = metrics[metrics["epoch"] == 1].set_index(["arm", "repeat"])
    assert (final.loc["fake+jit", "first_epoch_seconds"] > 2.5 * final.loc["fake", "first_epoch_seconds"]).all()
    assert (final.loc["fake+jit", "steady_epoch_seconds"] < 0.8 * final.loc["fake", "steady_epoch_seconds"]).all()
    results = (out / "tables" / "results_regression.md").read_text()
    assert "| arm | ok / total |" in results and "| fake+jit | 2 / 2 |" in results
    parity = pd.read_csv(out / "tables" / "parity.csv")
    assert list(zip(parity["framework_a"], parity["framework_b"], strict=True)) == [("fake", "fake+jit")] * 2
    compile_csv = pd.read_csv(out / "tables" / "compile.csv")
    assert list(compile_csv["jit_arm"]) == ["fake+jit"]
    # 1 + 3 "compile" epochs, then 0.6 of an epoch each: below "none" from epoch 9 on (runners/fake).
    assert compile_csv["break_even_epoch"].tolist() == [9] and compile_csv["epochs"].tolist() == [12]
    assert "compile time and break-even" in (out / "report.html").read_text()
    meta = json.loads((out / "suite.json").read_text())
    assert meta["compile"] == ["none", "jit"] and meta["baseline"] == "fake"
