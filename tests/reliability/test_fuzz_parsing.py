"""Property-based fuzzing of spec and suite parsing: bad documents only ever give the one clean error."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.plan import PlanError, load_suite
from schemas import JobSpec
from schemas.errors import describe
from tests.jobs import spec_dict

FAKE_SUITE = Path(__file__).resolve().parents[1] / "suites" / "fake.toml"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["../../etc/passwd", "$(rm -rf /)", "<script>alert(1)</script>", "1e309", "", "mnist"]),
)  # fmt: skip
documents = st.recursive(
    leaves,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
    max_leaves=20,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _mutate(doc, path, value, action):
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "extra" and isinstance(parent, dict):
        parent["unexpected_" + str(path[-1])] = value
    else:
        parent[path[-1]] = value
    return doc


def _validate(text: str) -> None:
    try:
        JobSpec.model_validate_json(text)
    except ValidationError as exc:
        assert describe(exc, "job.json").startswith("job.json: ")


@FUZZ
@given(documents)
def test_arbitrary_documents_never_raise_anything_but_validation_errors(doc):
    _validate(json.dumps(doc, allow_nan=True))


@FUZZ
@given(st.data(), leaves, st.sampled_from(["replace", "delete", "extra"]))
def test_mutated_valid_specs_never_raise_anything_but_validation_errors(data, value, action):
    doc = spec_dict("tensorflow", "classification")
    path = data.draw(st.sampled_from(list(_paths(doc))))
    _validate(json.dumps(_mutate(doc, path, value, action), allow_nan=True))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_garbage_suite_files_are_plan_errors(tmp_path, payload):
    suite = tmp_path / "suite.toml"
    suite.write_bytes(payload)
    try:
        load_suite(suite)
    except PlanError as exc:
        assert str(suite) in str(exc)


@FUZZ
@given(st.data(), leaves, st.sampled_from(["replace", "delete", "extra"]))
def test_mutated_suites_are_plan_errors_or_valid(tmp_path, data, value, action):
    doc = tomllib.loads(FAKE_SUITE.read_text())
    path = data.draw(st.sampled_from(list(_paths(doc))))
    doc = _mutate(doc, path, value, action)
    suite = tmp_path / "suite.json.toml"
    suite.write_text(_to_toml(doc) if isinstance(doc, dict) else "x = 1\n[")
    try:
        load_suite(suite)
    except PlanError:
        pass


def _to_toml(doc: dict) -> str:
    """Minimal TOML writer for the fuzzed suite (inline tables/arrays via JSON-compatible syntax)."""

    def value(v):
        if v is None:
            return '"null"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return (
                repr(v)
                if v == v and abs(v) != float("inf")
                else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
            )
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()) + "}"

    return "\n".join(f"{json.dumps(str(k))} = {value(v)}" for k, v in doc.items()) + "\n"
