"""What the orchestrator and the runners both need, standard library only.

The runners never import the orchestrator and the orchestrator never imports a runner's entry
module; the few ideas both sides share live here, once:

    ROOT                  the project checkout (runners run with it on PYTHONPATH)
    FIRST_STEPS           batches whose mean loss is the parity check's second probe
    write_bytes_atomic    temp file in the same folder + fsync + rename: readers see all or nothing
    write_text_atomic     the same for UTF-8 text with "\\n" line ends
    event_line            the one-line JSON a runner prints per epoch (progress, never results)
    parse_event           the backends' reading of it; None for any other output line
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIRST_STEPS = 10
EVENT_PREFIX = '{"event"'
MAX_EVENT_CHARS = 4096  # a progress line is ~100 characters; anything longer is not one of ours


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Write `data` to `path` via a temp file in the same directory and `os.replace`; the temp file
    is removed on any failure, so a crash or a full disk leaves no `.tmp` behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file 0600; results are meant to be read by others (CI, a web server).
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    # Always "\n" and UTF-8, whatever the platform: identical bytes on every machine.
    return write_bytes_atomic(path, text.encode("utf-8"))


def event_line(**fields: Any) -> str:
    """`{"event": "epoch", ...}`: the runner's progress line on stdout (key order fixed: event first)."""
    return json.dumps({"event": fields.pop("event"), **fields})


def parse_event(line: str) -> dict[str, Any] | None:
    """The event a runner's output line carries, or None (ordinary output, or garbage)."""
    if not line.startswith(EVENT_PREFIX) or len(line) > MAX_EVENT_CHARS:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
