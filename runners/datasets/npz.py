"""The prepared-dataset file every runner reads, and its validation.

Layout (numpy .npz, no pickles):
    x_train, x_val   float32 (N, n_features)
    y_train, y_val   int64 (N,) labels in 0..n_outputs-1 (classification)
                     float32 (N, n_outputs) (regression; 2-D so a (B, 1) prediction never
                     broadcasts against a (B,) target)
    meta             0-d str array holding JSON: name, source, raw_sha256, split, standardization
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runners.datasets.errors import DatasetError
from schemas.common import write_bytes_atomic
from schemas.datasets import CATALOG

ARRAY_KEYS = ("x_train", "y_train", "x_val", "y_val")
META_KEYS = ("name", "source", "raw_sha256", "split", "standardization")


@dataclass(frozen=True)
class Arrays:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    meta: dict[str, Any]

    def sha256(self) -> str:
        """Hash of the four arrays (name, dtype, shape, bytes), so runners can prove they read the same data."""
        h = hashlib.sha256()
        for key in ARRAY_KEYS:
            a = np.ascontiguousarray(getattr(self, key))
            h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.data)  # the buffer itself: a.tobytes() would copy 188 MB first (half the time)
        return h.hexdigest()


def validate(arrays: Mapping[str, np.ndarray], meta: Any, where: str) -> dict[str, Any]:
    """Check the whole contract; return meta. `where` (the file) starts every error message."""
    if not isinstance(meta, dict):
        raise DatasetError(f"{where}: meta is {type(meta).__name__}, expected a JSON object")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise DatasetError(f"{where}: meta lacks {', '.join(missing)}")
    info = CATALOG.get(meta["name"]) if isinstance(meta["name"], str) else None
    if info is None:
        raise DatasetError(
            f"{where}: meta names unknown dataset {meta['name']!r} (known: {', '.join(CATALOG)})"
        )
    for split in ("train", "val"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.float32:
            raise DatasetError(f"{where}: x_{split} has dtype {x.dtype}, expected float32")
        if x.ndim != 2 or x.shape[1] != info.n_features:
            raise DatasetError(f"{where}: x_{split} has shape {x.shape}, expected (N, {info.n_features})")
        if len(x) == 0:
            raise DatasetError(f"{where}: x_{split} is empty")
        if not np.isfinite(x).all():
            raise DatasetError(f"{where}: x_{split} contains NaN or inf")
        if info.task == "classification":
            if y.dtype != np.int64:
                raise DatasetError(f"{where}: y_{split} has dtype {y.dtype}, expected int64 (class labels)")
            if y.ndim != 1:
                raise DatasetError(f"{where}: y_{split} has shape {y.shape}, expected (N,)")
            if len(y) and (y.min() < 0 or y.max() >= info.n_outputs):
                raise DatasetError(
                    f"{where}: y_{split} has labels in {y.min()}..{y.max()}, expected 0..{info.n_outputs - 1}"
                )
        else:
            if y.dtype != np.float32:
                raise DatasetError(f"{where}: y_{split} has dtype {y.dtype}, expected float32")
            if y.ndim != 2 or y.shape[1] != info.n_outputs:
                raise DatasetError(f"{where}: y_{split} has shape {y.shape}, expected (N, {info.n_outputs})")
            if not np.isfinite(y).all():
                raise DatasetError(f"{where}: y_{split} contains NaN or inf")
        if len(x) != len(y):
            raise DatasetError(f"{where}: x_{split} has {len(x)} rows but y_{split} has {len(y)}")
    return meta


def load(path: Path) -> Arrays:
    """Read and validate a prepared .npz; DatasetError names the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; prepare the dataset first (runners.datasets.prepare)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise DatasetError(f"{path}: a single .npy array, not an .npz of the dataset contract")
            keys = set(npz.files)
            expected = {*ARRAY_KEYS, "meta"}
            if keys != expected:
                missing, extra = sorted(expected - keys), sorted(keys - expected)
                raise DatasetError(f"{path}: keys missing {missing}, unexpected {extra}")
            arrays = {k: npz[k] for k in ARRAY_KEYS}
            meta_array = npz["meta"]
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as exc:
        raise DatasetError(
            f"{path}: not a readable .npz ({type(exc).__name__}: {exc}); delete it and prepare it again"
        ) from exc
    if meta_array.shape != () or meta_array.dtype.kind != "U":
        raise DatasetError(f"{path}: meta is {meta_array.dtype} {meta_array.shape}, expected a 0-d str array")
    try:
        meta = json.loads(str(meta_array[()]))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: meta is not valid JSON ({exc})") from exc
    validate(arrays, meta, str(path))
    return Arrays(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"], meta)


def write_atomic(path: Path, arrays: Mapping[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write the .npz atomically: readers (and concurrent preparers) see either no file or a
    complete one."""
    payload: dict[str, Any] = {k: arrays[k] for k in ARRAY_KEYS}
    payload["meta"] = np.array(json.dumps(meta, sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    write_bytes_atomic(path, buffer.getvalue())
