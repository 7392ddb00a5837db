"""Reading a user's data file (CSV, .npz, IDX) into a `Table`, refusing hostile input in one line.

Every error is a DatasetError naming the file, the row or column (or array and index), and the fix.
Sizes a header claims are checked against what the file can hold before anything is allocated.
"""

from __future__ import annotations

import csv
import io
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runners.datasets.errors import DatasetError
from runners.datasets.idx import DEFLATE_MAX_RATIO, read_file, read_idx_file, sha256_bytes

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")
_NAMES_SHOWN = 8  # columns listed when the target is not among them


@dataclass(frozen=True)
class Table:
    """Examples as float64: x (N, features), y (N,) or (N, targets); `val` when the file splits them."""

    x: np.ndarray
    y: np.ndarray
    val: tuple[np.ndarray, np.ndarray] | None
    columns: list[str]  # feature names, for the standardization record
    target: str
    target_where: str  # the file and column (or array) of the target, for a message about all of it
    raw_sha256: dict[str, str]  # file name -> sha256 of its bytes
    # "where" of example i of the training (False) or validation (True) part, for a message
    locate: Callable[[int, bool], str]


def read_csv(path: Path, target: str) -> Table:
    raw = read_file(path)
    try:
        text = raw.decode("utf-8-sig")  # -sig: a spreadsheet's byte-order mark is not a column name
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not a text CSV (byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8); "
            "export the data as a UTF-8 CSV"
        ) from None
    if "\x00" in text:
        raise DatasetError(f"{path}: not a text CSV (it holds NUL bytes); export the data as a UTF-8 CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []  # each row's line in the file (the header is line 1): what an editor shows
    try:
        header = [name.strip() for name in next(reader, [])]
        for row in reader:
            if row:  # a blank line
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DatasetError(f"{path}: row {reader.line_num}: {exc}; fix the row or remove it") from None
    if not header:
        raise DatasetError(
            f"{path}: empty file; a CSV needs a header row naming the columns, then one row per example"
        )
    for i, name in enumerate(header):
        if not name:
            raise DatasetError(f"{path}: column {i + 1} of the header has no name; name every column")
        if name in header[:i]:
            raise DatasetError(f'{path}: column "{name}" appears twice in the header; rename one')
    if target not in header:
        shown = ", ".join(f'"{n}"' for n in header[:_NAMES_SHOWN]) + (
            ", ..." if len(header) > _NAMES_SHOWN else ""
        )
        raise DatasetError(
            f'{path}: no column "{target}" (the header has {shown}); set target to one of them'
        )
    if len(header) == 1:
        raise DatasetError(f'{path}: "{target}" is the only column; add the feature columns to learn from')
    for row, line in zip(rows, lines, strict=True):
        if len(row) != len(header):
            raise DatasetError(
                f"{path}: row {line} has {len(row)} values but the header has {len(header)} columns; "
                "fix the row or remove it"
            )
    values = _numbers(path, rows, lines, header)
    t = header.index(target)
    return Table(
        x=np.delete(values, t, axis=1),
        y=values[:, t],
        val=None,
        columns=[n for n in header if n != target],
        target=target,
        target_where=f'{path}: column "{target}"',
        raw_sha256={path.name: sha256_bytes(raw)},
        locate=lambda i, _val: f'{path}: row {lines[i]}, column "{target}"',
    )


def _numbers(path: Path, rows: list[list[str]], lines: list[int], header: list[str]) -> np.ndarray:
    """The cells as float64 (numpy's fast conversion), or the first cell that is not a finite number."""
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError:
        values = None
    if values is not None and np.isfinite(values).all():
        return values
    for row, line in zip(rows, lines, strict=True):
        for j, (column, cell) in enumerate(zip(header, row, strict=True)):
            number = _number(cell)
            if number is not None and math.isfinite(number):
                continue
            if number is None and all(_number(r[j]) is None for r in rows):
                raise DatasetError(
                    f'{path}: column "{column}" is not numeric (row {line}: {cell[:40]!r}); '
                    "remove the column or encode it as numbers"
                )
            what = (
                "is empty"
                if not cell.strip()
                else f"{cell[:40]!r} is not a {'finite ' if number is not None else ''}number"
            )
            raise DatasetError(f'{path}: row {line}, column "{column}": {what}; remove the row or fill it in')
    # numpy refused a spelling that Python's float() takes (e.g. "1_000"): every cell is a number
    return np.array([[_number(cell) for cell in row] for row in rows], dtype=np.float64)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_npz(path: Path) -> Table:
    """x_train, y_train [, x_val, y_val] of an .npz, read member by member without numpy's loader:
    no pickles, and each array's claimed size is checked against the file before it is read."""
    size = _size(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            keys = {name.removesuffix(".npy"): name for name in members}
            unexpected = sorted(set(keys) - set(NPZ_KEYS))
            if (
                unexpected
                or not {"x_train", "y_train"} <= set(keys)
                or (("x_val" in keys) != ("y_val" in keys))
            ):
                raise DatasetError(
                    f"{path}: holds {sorted(keys)}; an .npz of your data holds x_train and y_train, and "
                    "optionally x_val with y_val, nothing else (numpy.savez(path, x_train=..., y_train=...))"
                )
            arrays = {key: _npy(path, archive, members[name], size) for key, name in keys.items()}
    except DatasetError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        struct.error,
        EOFError,
        OSError,
        ValueError,
        TypeError,
        NotImplementedError,
        RuntimeError,
        SyntaxError,
        RecursionError,
        MemoryError,
    ) as exc:  # fmt: skip  (RuntimeError: an encrypted member; the rest: a damaged zip or .npy header)
        raise DatasetError(
            f"{path}: not a readable .npz ({type(exc).__name__}: {str(exc)[:200]}); save it with numpy.savez"
        ) from None
    x, y = _features(path, arrays, "train")
    val = _features(path, arrays, "val") if "x_val" in arrays else None
    if val is not None and val[0].shape[1] != x.shape[1]:
        raise DatasetError(
            f"{path}: x_val has {val[0].shape[1]} features per example but x_train {x.shape[1]}"
        )
    if val is not None and val[1].shape[1:] != y.shape[1:]:
        raise DatasetError(f"{path}: y_val has shape {val[1].shape} but y_train {y.shape}; make them agree")
    return Table(
        x=x,
        y=y,
        val=val,
        columns=[f"x[{j}]" for j in range(x.shape[1])],
        target="y",
        target_where=f"{path}: y_train",
        raw_sha256={path.name: sha256_bytes(read_file(path))},
        locate=lambda i, is_val: f"{path}: y_{'val' if is_val else 'train'}[{i}]",
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _npy(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> np.ndarray:
    where = f"{path}: {info.filename}"
    expands = 1 if info.compress_type == zipfile.ZIP_STORED else DEFLATE_MAX_RATIO
    if info.compress_size > size or info.file_size > expands * info.compress_size + 1024:
        raise DatasetError(
            f"{where}: claims {info.file_size} bytes, more than the file can hold; the file is damaged"
        )
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise DatasetError(
                f"{where}: .npy format version {version} is not supported; save it with numpy.savez"
            )
        if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
            raise DatasetError(
                f"{where}: dtype {dtype} is not plain numbers (pickled objects are never loaded)"
            )
        needed = math.prod(shape) * dtype.itemsize
        if member.tell() + needed != info.file_size:
            raise DatasetError(
                f"{where}: header claims shape {shape} ({needed} bytes) but the file holds "
                f"{info.file_size - member.tell()}; the file is damaged: save it again"
            )
        data = member.read(needed)
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _features(path: Path, arrays: dict[str, np.ndarray], part: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
    if x.ndim < 2 or x.shape[0] == 0 or math.prod(x.shape[1:]) == 0:
        raise DatasetError(f"{path}: x_{part} has shape {x.shape}; expected (examples, features...)")
    if y.ndim not in (1, 2) or len(y) != len(x) or y.size == 0:
        raise DatasetError(
            f"{path}: y_{part} has shape {y.shape}; expected ({len(x)},) or ({len(x)}, targets)"
        )
    x, y = x.reshape(len(x), -1).astype(np.float64), y.astype(np.float64)
    for name, values in ((f"x_{part}", x), (f"y_{part}", y.reshape(len(y), -1))):
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if len(bad):
            raise DatasetError(f"{path}: {name}[{bad[0]}] holds NaN or inf; remove the example or fill it in")
    return x, y


def read_idx(images: Path, labels: Path) -> Table:
    x, images_raw = read_idx_file(images)
    y, labels_raw = read_idx_file(labels)
    if x.ndim < 2:
        raise DatasetError(f"{images}: {x.ndim}-dimensional IDX; images need (count, rows, columns...)")
    if y.ndim != 1:
        raise DatasetError(f"{labels}: {y.ndim}-dimensional IDX; labels need one dimension (count)")
    if len(x) != len(y):
        raise DatasetError(
            f"{images}: {len(x)} images but {labels} has {len(y)} labels; pair the right files"
        )
    if len(x) == 0 or x[0].size == 0:
        raise DatasetError(f"{images}: no pixels ({x.shape}); export the images again")
    return Table(
        x=x.reshape(len(x), -1).astype(np.float64),
        y=y.astype(np.float64),
        val=None,
        columns=[f"pixel[{j}]" for j in range(x[0].size)],
        target="label",
        target_where=str(labels),
        raw_sha256={images.name: sha256_bytes(images_raw), labels.name: sha256_bytes(labels_raw)},
        locate=lambda i, _val: f"{labels}: label {i}",
    )
