"""A user's own data file (schemas/data_file.py), prepared by the petrol set's rules (sources_csv):

- split: the file's own x_val/y_val (an .npz) if it has them, else sources_csv.split_indices (80/20
  by a fixed seed);
- standardize: features (and a regression target) with the training rows' mean and std (ddof 0; a
  feature constant on them is only centred); a classification target stays integer labels 0..K-1,
  K = the number of classes, every one of which must occur.

    build(source, task) -> (arrays, meta, facts)   read, check, split, standardize; nothing written
    register(name, source), source_of(name)        which file a prepared name comes from: only the
                                                   orchestrator registers, runners never read the file
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

import numpy as np
from pydantic import ValidationError

from runners.datasets.errors import DatasetError
from runners.datasets.sources_csv import (
    SPLIT,
    STANDARDIZE_FORMULA,
    constant_columns,
    split_indices,
    standardize,
)
from runners.datasets.user_readers import Table, read_csv, read_idx, read_npz
from schemas.data_file import DataFile
from schemas.datasets import MAX_CLASSES, Task
from schemas.errors import first_error
from schemas.job import DataFacts

MIN_ROWS = 5  # 4 to train on, 1 to validate: fewer cannot be split 80/20 and standardized
SPLIT_GIVEN = "given by the file: x_train/y_train = train, x_val/y_val = validation; order kept"

_SOURCES: dict[str, DataFile] = {}


def register(name: str, source: DataFile) -> None:
    """Let `prepare(name, ...)` build `name` from `source` in this process."""
    _SOURCES[name] = source


def source_of(name: str) -> DataFile | None:
    return _SOURCES.get(name)


def read(source: DataFile) -> Table:
    files = {role: Path(path) for role, path in source.files.items()}
    for path in files.values():
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except OSError as exc:  # a name too long, a folder on the way that cannot be searched
            raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if is_dir:
            raise DatasetError(f"{path}: a directory, not a data file; name the file itself")
        if not exists:
            raise DatasetError(f"{path}: no such file; paths in a suite are relative to the suite file")
    if source.format == "csv":
        return read_csv(files["path"], source.target or "")
    if source.format == "npz":
        return read_npz(files["path"])
    return read_idx(files["images"], files["labels"])


def build(source: DataFile, task: Task) -> tuple[dict[str, np.ndarray], dict[str, Any], DataFacts]:
    table = read(source)
    first = next(iter(source.files.values()))
    if table.val is None:
        if len(table.x) < MIN_ROWS:
            raise DatasetError(
                f"{first}: {len(table.x)} examples; at least {MIN_ROWS} are needed to split them 80/20 "
                "into training and validation; add examples"
            )
        x, y = table.x, table.y
        train, val = split_indices(len(x))
        split = SPLIT
    else:
        if len(table.x) < 2:
            raise DatasetError(
                f"{first}: x_train has {len(table.x)} example; at least 2 are needed; add examples"
            )
        x, y = np.concatenate([table.x, table.val[0]]), np.concatenate([table.y, table.val[1]])
        train, val = np.arange(len(table.x)), np.arange(len(table.x), len(x))
        split = SPLIT_GIVEN
    xs, x_mean, x_std = standardize(x, train)
    _finite(xs, table.columns, first)
    standardization: dict[str, Any] = {
        "fit_on": "train",
        "ddof": 0,
        "formula": STANDARDIZE_FORMULA,
        "features": {"columns": table.columns, "mean": x_mean.tolist(), "std": x_std.tolist()},
        "constant_features": [table.columns[j] for j in constant_columns(x, train)],
    }
    if task == "classification":
        ys, n_outputs = _labels(table, y, len(table.x))
    else:
        y2 = y.reshape(len(y), -1)
        if constant_columns(y2, train):
            raise DatasetError(
                f"{table.target_where}: the same value on every training example; nothing to learn"
            )
        ys, y_mean, y_std = standardize(y2, train)
        _finite(ys, [table.target] * y2.shape[1], first)
        n_outputs = y2.shape[1]
        standardization["target"] = {"column": table.target, "mean": y_mean.tolist(), "std": y_std.tolist()}
    try:
        facts = DataFacts(
            format=source.format or "idx",
            task=task,
            target=source.target,
            sha256=table.raw_sha256,
            n_features=x.shape[1],
            n_outputs=n_outputs,
        )
    except ValidationError as exc:
        raise DatasetError(f"{first}: {first_error(exc)}") from None
    arrays = {"x_train": xs[train], "y_train": ys[train], "x_val": xs[val], "y_val": ys[val]}
    meta = {
        "name": facts.dataset_name(PurePath(first).name),
        "source": " + ".join(str(Path(p).absolute()) for p in source.files.values()),
        "raw_sha256": table.raw_sha256,
        "format": facts.format,
        "split": split,
        "standardization": standardization,
    }
    return arrays, meta, facts


def _finite(z: np.ndarray, columns: list[str], where: str) -> None:
    """Standardized values overflow float (a sum of 1e308s, a validation value 1e300 standard
    deviations out): name the column rather than let the prepared file's check name the .npz."""
    bad = np.flatnonzero(~np.isfinite(z).all(axis=0))
    if len(bad):
        raise DatasetError(
            f'{where}: column "{columns[bad[0]]}" has values too large to standardize in float32; scale it down'
        )


def _labels(table: Table, y: np.ndarray, n_train: int) -> tuple[np.ndarray, int]:
    """int64 labels 0..K-1 and K, or the first example whose label is not a class number."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(
            f"{table.target_where}: shape {y.shape}; classification needs one label per example"
        )
    bad = np.flatnonzero((y != np.floor(y)) | (y < 0) | (y >= MAX_CLASSES))
    if len(bad):
        i = int(bad[0])
        where = table.locate(i if i < n_train else i - n_train, i >= n_train)
        raise DatasetError(
            f"{where}: label {y[i]:g} is not a class number; classification needs whole-number labels "
            f"0, 1, ..., K-1 (K up to {MAX_CLASSES})"
        )
    labels = y.astype(np.int64)
    classes = int(labels.max()) + 1
    missing = np.setdiff1d(np.arange(classes), labels)
    if classes < 2 or len(missing):
        raise DatasetError(
            f"{table.target_where}: labels run 0..{classes - 1} but no example has label "
            f"{int(missing[0]) if len(missing) else 1}; classification needs every label 0..K-1 (K >= 2): "
            "renumber them"
        )
    return labels, classes
