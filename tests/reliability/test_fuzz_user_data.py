"""A user's data file, fuzzed: random and mutated CSV, .npz and IDX bytes either prepare into a valid
dataset or give the one-line DatasetError, never a traceback, never a half-written file; a few go
through `bench orchestrate` (exit 0, or exit 2 and one `error:` line with no run directory)."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runners import datasets
from runners.datasets import DatasetError, user_data
from schemas.data_file import DataFile
from tests.reliability.test_hostile_plan import orchestrate
from tests.unit.test_user_data import idx_bytes, user_suite

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLI = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

GOOD_CSV = b"a,b,y\n" + b"".join(f"{i},{i * 3 % 5},{i % 2}\n".encode() for i in range(12))
_buffer = io.BytesIO()
np.savez(_buffer, x_train=np.arange(24.0).reshape(12, 2), y_train=np.arange(12) % 2)
GOOD_NPZ = _buffer.getvalue()
GOOD_IMAGES = idx_bytes(np.arange(10 * 3 * 2).reshape(10, 3, 2) % 256)
GOOD_LABELS = idx_bytes(np.arange(10) % 2)


@st.composite
def mutated(draw: st.DrawFn, good: bytes) -> bytes:
    """`good` with a few bytes flipped, inserted or deleted, or cut short."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if action == "flip" and data:
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 8))]
        else:
            del data[where:]
    return bytes(data)


def prepared_or_refused(source: DataFile, task: str, tmp: Path) -> None:
    """The property: a valid prepared dataset, or one DatasetError line; no partial file either way."""
    data_dir = tmp / f"data-{task}"
    try:
        _, meta, _ = user_data.build(source, task)  # type: ignore[arg-type]
    except DatasetError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(tmp)), str(exc)
        return
    user_data.register(meta["name"], source)
    loaded = datasets.load(datasets.prepare(meta["name"], data_dir))  # validated against the contract
    assert loaded.meta["raw_sha256"] == meta["raw_sha256"]
    assert not list(data_dir.glob("*.tmp")) and [p.name for p in data_dir.iterdir()] == [
        f"{meta['name']}.npz"
    ]


def _fresh(tmp_path: Path) -> Path:
    folder = tmp_path / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@FAST
@given(data=st.one_of(st.binary(max_size=400), mutated(GOOD_CSV), st.text(max_size=300).map(str.encode)))
@example(data=GOOD_CSV)
@example(data=b"a,b,y\n" + b"1,2,3\n" * 10)  # constant columns: a feature is centred, the target refused
def test_csv_bytes(tmp_path, data):
    folder = _fresh(tmp_path)
    (folder / "d.csv").write_bytes(data)
    for task in ("regression", "classification"):
        prepared_or_refused(DataFile(path=str(folder / "d.csv"), target="y"), task, folder)


@FAST
@given(data=st.one_of(mutated(GOOD_NPZ), st.binary(max_size=300)))
@example(data=GOOD_NPZ)
def test_npz_bytes(tmp_path, data):
    folder = _fresh(tmp_path)
    (folder / "d.npz").write_bytes(data)
    for task in ("regression", "classification"):
        prepared_or_refused(DataFile(path=str(folder / "d.npz")), task, folder)


@FAST
@given(
    images=st.one_of(mutated(GOOD_IMAGES), st.binary(max_size=64)),
    labels=st.one_of(st.just(GOOD_LABELS), mutated(GOOD_LABELS)),
    gzipped=st.booleans(),
)
@example(images=GOOD_IMAGES, labels=GOOD_LABELS, gzipped=True)
def test_idx_bytes(tmp_path, images, labels, gzipped):
    folder = _fresh(tmp_path)
    (folder / "images").write_bytes(gzip.compress(images) if gzipped else images)
    (folder / "labels").write_bytes(labels)
    prepared_or_refused(
        DataFile(images=str(folder / "images"), labels=str(folder / "labels")), "classification", folder
    )


@CLI
@given(data=mutated(GOOD_CSV))
@example(data=GOOD_CSV)
def test_orchestrate_on_mutated_csv(tmp_path, monkeypatch: pytest.MonkeyPatch, data):
    monkeypatch.setenv("COLUMNS", "1000")
    folder = _fresh(tmp_path)
    (folder / "d.csv").write_bytes(data)
    suite = folder / "suite.toml"
    suite.write_text(user_suite('{ path = "d.csv", target = "y" }').replace("epochs = 2", "epochs = 1"))
    out = folder / "run"
    result = orchestrate("--suite", suite, "--out", out)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:
        assert len([line for line in result.output.splitlines() if line.startswith("error: ")]) == 1
        assert not out.exists() and not list(folder.rglob("*.tmp"))
    else:
        assert result.exit_code == 0, result.output
