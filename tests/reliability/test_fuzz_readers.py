"""Every reader, fed random nesting depths (1..5000) and random documents: a clean refusal or a
documented status, never a traceback (RecursionError was the usual one).

Readers: the suite loader, schemas.parse, the runner's spec loader (harness.main), `bench report` on
a run directory with a garbage run.json / suite.json / spec / report, and `bench orchestrate --resume`
on one.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.plan import PlanError, load_suite
from runners.harness import main as runner_main
from schemas.parse import MAX_DEPTH, ParseError, check_depth, load_json_bytes
from tests.jobs import spec_dict
from tests.reliability.test_fuzz_parsing import _to_toml, documents

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Each example of these renders a report or resumes a run: fewer, still a few seconds in all.
CLI = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DEPTHS = st.integers(min_value=1, max_value=5000)
# Deep enough for any recursive parser (CPython's limit is 1000 frames), always tried first.
DEEP = ("[" * 5000 + "]" * 5000).encode()


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    """Lists and objects nested `depth` levels, in a random mix, sometimes cut short."""
    depth, seed = draw(DEPTHS), draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    opens = [rng.choice(("[", '{"k": ')) for _ in range(depth)]
    leaf = draw(st.sampled_from(["1", '"x"', "null", "[]", "{}", "1e999", '"[[[{{{"']))
    text = "".join(opens) + leaf + "".join("]" if o == "[" else "}" for o in reversed(opens))
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@st.composite
def deep_toml_value(draw: st.DrawFn) -> str:
    depth, seed = draw(DEPTHS), draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    opens = [rng.choice(("[", "{a = ")) for _ in range(depth)]
    leaf = draw(st.sampled_from(["1", '"x"', "[]", "{}", "'''[[['''", '"{{{"']))
    return "".join(opens) + leaf + "".join("]" if o == "[" else "}" for o in reversed(opens))


def _in_spec(text: str) -> str:
    """A valid spec with one field replaced by `text` (or `text` alone)."""
    doc = spec_dict("fake")
    doc["workload"]["optimizer"] = "__DEEP__"
    return json.dumps(doc).replace('"__DEEP__"', text)


@st.composite
def hostile_json(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["deep", "deep-in-spec", "document", "bytes"]))
    if kind == "deep":
        return draw(deep_json()).encode()
    if kind == "deep-in-spec":
        return _in_spec(draw(deep_json())).encode()
    if kind == "document":
        return json.dumps(draw(documents), allow_nan=True).encode()
    return draw(st.binary(max_size=300))


@st.composite
def hostile_toml(draw: st.DrawFn) -> str:
    template = FAKE_SUITE.read_text()
    kind = draw(st.sampled_from(["value", "dotted-key", "table-header", "in-suite", "document"]))
    if kind == "value":
        return f"x = {draw(deep_toml_value())}\n"
    if kind == "dotted-key":
        return "a" + ".a" * draw(DEPTHS) + " = 1\n"
    if kind == "table-header":
        return "[" + ".".join(["t"] * draw(DEPTHS)) + "]\nx = 1\n"
    if kind == "in-suite":
        return template.replace("epochs = 3", f"epochs = {draw(deep_toml_value())}", 1)
    doc = draw(documents)
    return _to_toml(doc) if isinstance(doc, dict) else f"x = {json.dumps(doc)}\n"


# --- in-process readers ------------------------------------------------------------------------


@FAST
@given(hostile_toml())
@example("x = " + "[" * 5000 + "]" * 5000)
@example("a" + ".a" * 5000 + " = 1")
def test_suites_of_any_depth_load_or_are_one_line_plan_errors(tmp_path, text):
    suite = tmp_path / "suite.toml"
    suite.write_text(text)
    try:
        load_suite(suite)
    except PlanError as exc:
        message = str(exc)
        assert str(suite) in message and "\n" not in message


@FAST
@given(hostile_json())
@example(DEEP)
def test_json_of_any_depth_parses_or_is_one_line_parse_error(data):
    try:
        value = load_json_bytes(data, "x.json")
    except ParseError as exc:
        assert str(exc).startswith("x.json: ") and "\n" not in str(exc)
    else:
        check_depth(value, "x.json")  # what came back is within MAX_DEPTH


def test_the_depth_limit_is_exact():
    assert load_json_bytes("[" * MAX_DEPTH + "]" * MAX_DEPTH, "ok.json")
    with pytest.raises(ParseError, match=f"deeper than {MAX_DEPTH} levels"):
        load_json_bytes("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "deep.json")


@FAST
@given(hostile_json())
@example(DEEP)
def test_the_runner_refuses_any_spec_it_cannot_use_in_one_line(tmp_path, data):
    spec, out = tmp_path / "spec.json", tmp_path / "report.json"
    spec.write_bytes(data)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            code = runner_main("fake", ["--spec", str(spec), "--out", str(out), "--data-dir", str(tmp_path)])
        except SystemExit as exc:
            code = exc.code
    assert code == 2
    lines = stderr.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(spec) in lines[0]
    assert not out.exists()


# --- the CLI on a damaged run directory -----------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz-readers") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_BACKEND", "venv")
        result = CliRunner().invoke(
            app, ["orchestrate", "--suite", str(FAKE_SUITE), "--out", str(out), "--tasks", "regression",
                  "--repeats", "1"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _damaged_copy(run: Path, where: Path, target: str, payload: bytes) -> Path:
    copy = where / "run"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("plots", "tables", "*.html", "metrics.*"))
    files = {
        "run.json": [copy / "run.json"],
        "suite.json": [copy / "suite.json"],
        "spec": sorted((copy / "specs").glob("*.json")),
        "report": sorted((copy / "reports").glob("*.json")),
    }[target]
    for path in files:
        path.write_bytes(payload)
    return copy


def _assert_clean(result, allowed: tuple[int, ...]) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in allowed, result.output


@CLI
@given(st.sampled_from(["run.json", "suite.json", "spec", "report"]), hostile_json())
@example("run.json", DEEP)
@example("spec", DEEP)
@example("report", DEEP)
def test_bench_report_on_a_damaged_run_never_tracebacks(finished_run, tmp_path, target, payload):
    copy = _damaged_copy(finished_run, tmp_path, target, payload)
    # 0: rendered (a damaged spec or report is a `crashed` row); 2: one line, not a run it can read.
    _assert_clean(CliRunner().invoke(app, ["report", str(copy)]), (0, 2))


@CLI
@given(st.sampled_from(["run.json", "suite.json", "spec"]), hostile_json())
@example("run.json", DEEP)
@example("suite.json", DEEP)
@example("spec", DEEP)
def test_resume_of_a_damaged_run_never_tracebacks(finished_run, tmp_path, monkeypatch, target, payload):
    monkeypatch.setenv("BENCH_BACKEND", "venv")
    copy = _damaged_copy(finished_run, tmp_path, target, payload)
    # 2: the stored plan cannot be read (one line); 0/1: it could, and the run was finished.
    _assert_clean(CliRunner().invoke(app, ["orchestrate", "--resume", str(copy)]), (0, 1, 2))
