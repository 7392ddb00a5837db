"""Atomic file writes: a reader (or a crash) never sees a half-written table, plot or page."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to `path` via a temp file in the same directory and `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file 0600; results are meant to be read by others (CI, a web server).
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        # The temp file is ours alone; leaving it would litter the run directory.
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    # Always "\n" and UTF-8, whatever the platform: identical bytes on every machine.
    return write_bytes_atomic(path, text.encode("utf-8"))
