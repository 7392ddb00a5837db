"""--repeats auto: rounds of one more repeat until every verdict is decided, or the maximum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import auto_repeats
from orchestrator.cli import app

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"


def orchestrate(out: Path, *args: str):  # type: ignore[no-untyped-def]
    cmd = ["orchestrate", "--suite", str(FAKE_SUITE), "--tasks", "regression", "--out", str(out), *args]
    return CliRunner().invoke(app, cmd)


def test_rounds_are_added_until_every_verdict_is_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([("regression time: inconclusive — about 7 repeats per side would decide",)] * 2 + [()])
    monkeypatch.setattr(auto_repeats, "undecided", lambda run, margin, keep: next(answers))
    out = tmp_path / "run"
    result = orchestrate(out, "--repeats", "auto", "--max-repeats", "9")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "run.json").read_text())
    assert meta["auto_repeats"] == {"repeats": 7, "max_repeats": 9, "undecided": []}
    assert len(meta["plan"]) == meta["jobs"] == 7 and len(list((out / "reports").glob("*.json"))) == 7
    assert "adding repeat 6" in result.output and "adding repeat 7" in result.output
    assert "every verdict decided after 7 repeats" in result.output
    assert "7 jobs: 7 ok" in result.output


def test_auto_stops_at_the_maximum_and_says_what_is_undecided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        auto_repeats, "undecided", lambda run, margin, keep: ("regression time: inconclusive",)
    )
    out = tmp_path / "run"
    result = orchestrate(out, "--repeats", "auto", "--max-repeats", "6")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "run.json").read_text())
    assert meta["auto_repeats"]["repeats"] == 6 and meta["auto_repeats"]["undecided"]
    assert "stopped at the maximum of 6 repeats" in " ".join(result.output.split())


def test_a_single_framework_has_nothing_to_decide(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = orchestrate(out, "--repeats", "auto")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["auto_repeats"]["repeats"] == 5


@pytest.mark.parametrize("value", ["0", "-3", "many", "1e3", "1001"])
def test_bad_repeats_are_one_line(tmp_path: Path, value: str) -> None:
    result = orchestrate(tmp_path / "run", "--repeats", value)
    assert result.exit_code == 2, result.output
    assert "--repeats" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
