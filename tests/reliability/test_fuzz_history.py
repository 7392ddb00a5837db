"""The history store's reader, fed garbage: random bytes, damaged copies of a real file, and well-formed
Parquet of random schemas and values. Never a traceback: every file is either read or named in the
problems and skipped, and the good file beside it is still read."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from orchestrator import history
from orchestrator.cli import app
from orchestrator.results.trend import trend_tables
from tests.unit._history_runs import timed_run

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLI = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
runner = CliRunner()

# Values of every kind a foreign writer might put in a column, ours or not.
VALUES = {
    "int64": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "float64": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "string": st.one_of(
        st.none(), st.text(max_size=12), st.sampled_from(["lower", "higher", "1", "2026-01-01"])
    ),
    "bool": st.one_of(st.none(), st.booleans()),
}
ARROW = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_()}


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one real run; each example copies it and adds one bad file."""
    root = tmp_path_factory.mktemp("history")
    history.add_run(timed_run(root / "run", seed=1, tasks=("regression",)), root / "store")
    return root / "store"


def _copy(store: Path, tmp: Path) -> Path:
    target = tmp / "store"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(store, target)
    return target


@st.composite
def random_tables(draw: st.DrawFn, complete: bool = False) -> bytes:
    """Well-formed Parquet: some of our column names (some missing, some of the wrong type), some
    other names, random values including None, NaN, inf and huge integers. `complete`: every one of
    our columns, of its own type, so that only the values can be wrong."""
    kinds = {name: kind for name, kind, _ in history.SCHEMA}
    names = (
        list(history.COLUMN_NAMES)
        if complete
        else draw(
            st.lists(st.sampled_from([*history.COLUMN_NAMES, "x", "value2", ""]), max_size=22, unique=True)
        )
    )
    rows = draw(st.integers(0, 4))
    columns = {}
    for name in names:
        ours = kinds.get(name)
        kind = ours if ours and (complete or draw(st.booleans())) else draw(st.sampled_from(sorted(ARROW)))
        if name == "store_version" and kind == "int64" and draw(st.booleans()):
            columns[name] = pa.array([history.STORE_VERSION] * rows, ARROW[kind])
            continue
        columns[name] = pa.array(draw(st.lists(VALUES[kind], min_size=rows, max_size=rows)), ARROW[kind])
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns) if columns else pa.table({"empty": pa.array([], pa.int64())}), sink)
    return bytes(sink.getvalue().to_pybytes())


@st.composite
def damaged_copies(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _check(store: Path, bad: Path, good_rows: int) -> None:
    found = history.read_store(store)  # must not raise, whatever `bad` holds
    named = [p for p in found.problems if p.startswith(f"{bad}: skipped, ")]
    assert len(found.problems) == len(named) <= 1
    assert found.table.num_rows >= good_rows
    if not named:  # accepted: then it holds nothing a query could trip on
        values = found.table.column("value").to_pylist()
        assert all(math.isfinite(v) for v in values)
    trend_tables(history.trend(found))


@FUZZ
@given(data=st.one_of(st.binary(max_size=3000), st.binary(max_size=500).map(lambda b: b"PAR1" + b + b"PAR1")))
def test_random_bytes(good_store: Path, tmp_path: Path, data: bytes) -> None:
    store = _copy(good_store, tmp_path)
    good_rows = history.read_store(store).table.num_rows
    bad = store / "hardware=x" / "suite=y" / "fuzz.parquet"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(data)
    _check(store, bad, good_rows)


@FUZZ
@given(data=st.data())
def test_damaged_copies_of_a_real_file(good_store: Path, tmp_path: Path, data: st.DataObject) -> None:
    store = _copy(good_store, tmp_path)
    good = sorted(store.rglob("*.parquet"))[0]
    good_rows = history.read_store(store).table.num_rows
    bad = good.with_name("damaged.parquet")
    bad.write_bytes(data.draw(damaged_copies(good.read_bytes())))
    _check(store, bad, good_rows)


@FUZZ
@given(table=st.one_of(random_tables(), random_tables(complete=True)))
def test_wrong_schemas_and_values(good_store: Path, tmp_path: Path, table: bytes) -> None:
    store = _copy(good_store, tmp_path)
    good_rows = history.read_store(store).table.num_rows
    bad = store / "foreign.parquet"
    bad.write_bytes(table)
    _check(store, bad, good_rows)


@CLI
@given(data=st.one_of(st.binary(max_size=300), random_tables()))
def test_bench_history_warns_and_goes_on(good_store: Path, tmp_path: Path, data: bytes) -> None:
    store = _copy(good_store, tmp_path)
    (store / "x.parquet").write_bytes(data)
    result = runner.invoke(app, ["history", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "1 run" in result.output
