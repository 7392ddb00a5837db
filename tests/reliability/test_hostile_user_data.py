"""A user's own data file through `bench orchestrate`: a good CSV and .npz run end to end with the
fake runner; each hostile file ends in exit 2 and one line naming the file, the row or column, and
the fix, with no run directory and no partial .npz left behind."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from schemas import RunReport
from tests.reliability.test_hostile_plan import assert_refused_cleanly, orchestrate
from tests.unit.test_user_data import idx_bytes, user_suite, write_csv, write_npz


def reports(out: Path) -> list[RunReport]:
    return [RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")]


def test_a_csv_regression_and_an_npz_classification_run_end_to_end(tmp_path):
    csv_path = write_csv(tmp_path / "prices.csv", rows=30)
    write_npz(tmp_path / "digits.npz", rows=40, classes=4)
    suite = tmp_path / "suite.toml"
    classification = user_suite('{ path = "digits.npz" }', task="classification", units=4)
    suite.write_text(
        user_suite('{ path = "prices.csv", target = "price" }')
        + classification[classification.index("[[tasks]]") :].replace('name = "mine"', 'name = "digits"')
    )
    out = tmp_path / "run"
    result = orchestrate("--suite", suite, "--out", out)
    assert result.exit_code == 0, result.output
    found = reports(out)
    assert len(found) == 2 and all(r.status == "ok" for r in found)
    by_task = {r.fairness.dataset.split("-")[0]: r.fairness for r in found if r.fairness}
    sha = __import__("hashlib").sha256(csv_path.read_bytes()).hexdigest()
    assert by_task["prices"].raw_sha256 == {"prices.csv": sha}  # the file's sha256 in every report
    assert by_task["prices"].train_samples == 24 and by_task["digits"].val_samples == 8
    specs = [json.loads(p.read_text()) for p in (out / "specs").glob("*.json")]
    assert {s["workload"]["data_file"]["format"] for s in specs} == {"csv", "npz"}
    assert not list(out.rglob("prices.csv")), "runners read the prepared .npz, never the user's file"


# ---------------------------------------------------------------- hostile files


def _csv(text: str) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        (folder / "prices.csv").write_text(text)
        return '{ path = "prices.csv", target = "price" }'

    return make


GOOD_ROWS = "".join(f"{i},{i * 2 % 7},{i * 1.5}\n" for i in range(1, 12))
HEADER = "a,b,price\n"


def _npz_claiming_10_gb(folder: Path) -> str:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (50_000, 50_000)}
    )
    with zipfile.ZipFile(folder / "big.npz", "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + b"\0" * 64)
        archive.writestr("y_train.npy", header.getvalue() + b"\0" * 64)
    return '{ path = "big.npz" }'


def _npz_with_nan(folder: Path) -> str:
    x = np.ones((10, 2))
    x[3, 1] = np.nan
    np.savez(folder / "nan.npz", x_train=x, y_train=np.arange(10.0))
    return '{ path = "nan.npz" }'


def _idx_claiming_10_gb(folder: Path) -> str:
    header = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3I", 100_000, 300, 300)
    (folder / "images.gz").write_bytes(gzip.compress(header + b"\0" * 100))
    (folder / "labels").write_bytes(idx_bytes(np.arange(10) % 2))
    return '{ images = "images.gz", labels = "labels" }'


def _unreadable(folder: Path) -> str:
    path = folder / "prices.csv"
    path.write_text(HEADER + GOOD_ROWS)
    path.chmod(0)
    return '{ path = "prices.csv", target = "price" }'


def _a_directory(folder: Path) -> str:
    (folder / "prices.csv").mkdir()
    return '{ path = "prices.csv", target = "price" }'


# name -> (make the file(s) in a folder and return the suite's dataset, task, last layer's units,
#          what the one line must say besides the file)
HOSTILE: dict[str, tuple[Callable[[Path], str], str, int, tuple[str, ...]]] = {
    "non-numeric column": (
        _csv("city,a,price\n" + "".join(f"Town{i},{i},{i}\n" for i in range(9))),
        "regression", 1, ('column "city" is not numeric', "encode it as numbers"),
    ),
    "a word in a number column": (
        _csv(HEADER + GOOD_ROWS + "1,2,n/a\n"), "regression", 1,
        ("row 13", 'column "price"', "'n/a' is not a number", "remove the row or fill it in"),
    ),
    "missing target column": (
        _csv("a,b,cost\n" + GOOD_ROWS), "regression", 1, ('no column "price"', '"cost"', "set target"),
    ),
    "NaN in a CSV": (
        _csv(HEADER + GOOD_ROWS.replace("4,1,6.0", "4,nan,6.0")), "regression", 1,
        ("row 5", 'column "b"', "not a finite number"),
    ),
    "inf in a CSV": (
        _csv(HEADER + GOOD_ROWS + "1,inf,2\n"), "regression", 1, ("row 13", 'column "b"', "not a finite number"),
    ),
    "NaN in an npz": (_npz_with_nan, "regression", 1, ("x_train[3] holds NaN or inf", "remove the example")),
    "ragged rows": (
        _csv(HEADER + GOOD_ROWS + "1,2\n"), "regression", 1, ("row 13 has 2 values but the header has 3", "fix the row"),
    ),
    "empty file": (_csv(""), "regression", 1, ("empty file", "header row")),
    "binary file": (
        lambda folder: ((folder / "prices.csv").write_bytes(bytes(range(256)) * 4), '{ path = "prices.csv", target = "price" }')[1],
        "regression", 1, ("not a text CSV", "UTF-8"),
    ),
    "npz header claiming 10 GB": (_npz_claiming_10_gb, "regression", 1, ("x_train.npy", "(50000, 50000)", "damaged")),
    "IDX header claiming 10 GB": (_idx_claiming_10_gb, "classification", 2, ("images.gz", "cannot hold", "damaged")),
    "label out of range": (
        _csv(HEADER + GOOD_ROWS.replace("1,2,1.5", "1,2,-1")), "classification", 2,
        ("row 2", 'column "price"', "label -1 is not a class number", "0, 1, ..., K-1"),
    ),
    "a fractional label": (
        _csv(HEADER + "".join(f"{i},{i},{i % 2}\n" for i in range(9)) + "1,1,0.5\n"), "classification", 2,
        ("row 11", "label 0.5 is not a class number"),
    ),
    "a class with no example": (
        _csv(HEADER + "".join(f"{i},{i},{i % 2 * 2}\n" for i in range(9))), "classification", 3,
        ('column "price"', "no example has label 1", "renumber"),
    ),
    "no such file": (lambda folder: '{ path = "nowhere.csv", target = "price" }', "regression", 1, ("nowhere.csv: no such file", "relative to the suite")),
    "a directory": (_a_directory, "regression", 1, ("a directory, not a data file",)),
    "unreadable": (_unreadable, "regression", 1, ("cannot read", "Permission denied")),
    "too few rows to split": (_csv(HEADER + "1,2,3\n2,3,4\n"), "regression", 1, ("2 examples", "at least 5", "add examples")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_data_file_is_refused_in_one_line_with_nothing_written(tmp_path, monkeypatch, case):
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps at the terminal's width: the line must be one
    make, task, units, says = HOSTILE[case]
    if case == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    suite = tmp_path / "suite.toml"
    suite.write_text(user_suite(make(tmp_path), task=task, units=units))
    out = tmp_path / "run"
    before = sorted(tmp_path.iterdir())
    result = orchestrate("--suite", suite, "--out", out)
    assert_refused_cleanly(result, tmp_path, out, *says)
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert all(part in error for part in says), (says, error)
    assert str(tmp_path) in error, error  # the line names the file
    assert sorted(tmp_path.iterdir()) == before  # no run directory, no .npz, nothing else
