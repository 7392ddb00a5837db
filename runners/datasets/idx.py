"""Reading gzipped IDX files (the MNIST / Fashion-MNIST format) with nothing but the stdlib and numpy.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian uint32 per dimension, then the payload in C order.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from runners.datasets.errors import DatasetError

_UBYTE = 0x08


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gunzip(raw: bytes, where: str) -> bytes:
    """Decompress a whole .gz file held in memory; `where` names it in errors."""
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise DatasetError(f"{where}: truncated gzip file ({exc}); delete it and fetch it again") from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DatasetError(f"{where}: not a valid gzip file ({exc}); delete it and fetch it again") from exc


def parse_idx(data: bytes, where: str, ndim: int) -> np.ndarray:
    """Decode an uncompressed IDX payload of unsigned bytes with `ndim` dimensions."""
    if len(data) < 4:
        raise DatasetError(f"{where}: {len(data)} bytes is too short for an IDX header")
    zero, code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or code != _UBYTE or dims != ndim:
        raise DatasetError(
            f"{where}: bad IDX magic {data[:4].hex()} (expected 0000{_UBYTE:02x}{ndim:02x}: "
            f"unsigned bytes, {ndim} dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{where}: IDX header cut short ({len(data)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(shape)  # Python ints: 255 dimensions of 2**32 cannot overflow
    if len(data) != expected:
        raise DatasetError(
            f"{where}: IDX payload is {len(data) - header} bytes but dimensions {shape} need "
            f"{expected - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def images_and_labels(
    images_idx: bytes, labels_idx: bytes, images_where: str, labels_where: str
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 784) uint8 images and (N,) uint8 labels from the decompressed IDX files of one split."""
    images = parse_idx(images_idx, images_where, 3)
    labels = parse_idx(labels_idx, labels_where, 1)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_where}: images are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_where}: {len(images)} images but {labels_where} has {len(labels)} labels"
        )
    if len(labels) and int(labels.max()) > 9:
        raise DatasetError(f"{labels_where}: label {int(labels.max())} outside 0..9")
    return images.reshape(len(images), 28 * 28), labels


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def read_verified(path: Path, expected_sha256: str) -> tuple[bytes, bytes]:
    """(file bytes, decompressed IDX bytes) of a .gz whose decompressed content has the expected sha256.

    The content, not the .gz, is what we pin: distributors re-wrap the same bytes (Debian's
    Fashion-MNIST .gz files lack the original gzip header's file name, so their own sha256 and md5
    differ from upstream's while the decompressed files are identical)."""
    raw = read_file(path)
    content = gunzip(raw, str(path))
    got = sha256_bytes(content)
    if got != expected_sha256:
        raise DatasetError(
            f"{path}: sha256 of the decompressed content is {got}, expected {expected_sha256}; "
            "the file is corrupt or a different dataset: delete it and fetch it again"
        )
    return raw, content


# Deflate cannot expand data more than 1032 times (RFC 1951: a 258-byte match per 2 bits at best),
# so a .gz of M bytes holds at most this many times M: a header claiming more lies.
DEFLATE_MAX_RATIO = 1032
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx_file(path: Path) -> tuple[np.ndarray, bytes]:
    """(array, file bytes) of an unsigned-byte IDX file, gzipped or not, of any number of dimensions.

    The header's dimensions are checked against what the file can hold BEFORE the payload is
    decompressed or allocated: a 100-byte file claiming a 10 GB array is refused, not attempted."""
    raw = read_file(path)
    if raw[:2] != _GZIP_MAGIC:
        return parse_idx(raw, str(path), raw[3] if len(raw) >= 4 else 0), raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            head = stream.read(4)
            ndim = head[3] if len(head) == 4 else 0
            head += stream.read(4 * ndim)
            if len(head) == 4 + 4 * ndim and ndim:
                claimed = math.prod(struct.unpack(f">{ndim}I", head[4:]))
                if claimed > DEFLATE_MAX_RATIO * len(raw):
                    raise DatasetError(
                        f"{path}: IDX header claims {claimed} bytes of data but a {len(raw)}-byte .gz "
                        "cannot hold that many; the file is damaged: export it again"
                    )
                head += stream.read(claimed + 1)  # one more: a longer payload is an error too
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DatasetError(f"{path}: not a valid gzip file ({exc}); export it again") from exc
    return parse_idx(head, str(path), ndim), raw
