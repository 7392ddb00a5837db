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
import re
import tempfile
from collections.abc import Iterable
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


# CPU lists in the kernel's form ("0-3,8-11"): the orchestrator writes a job's CPUs into run.json and
# the runner's environment (BENCH_CPUS), the runner pins itself and watches those CPUs for noise.
# Larger than any kernel's NR_CPUS (8192 at most today): a bigger id in a cpulist is garbage, and the
# bound keeps a corrupt range like "0-4000000000" from building a huge set.
MAX_CPU_ID = 1 << 16
_CPULIST_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def parse_cpulist(text: str) -> set[int]:
    """The CPUs of a kernel cpulist ("0-3,8-11"). Surrounding whitespace is allowed and an empty list
    is the empty set (a memory-only NUMA node prints just a newline); anything else that is not a
    comma-separated list of ids and ascending ranges raises ValueError, because a misread list would
    silently pin jobs to the wrong cores."""
    text = text.strip()
    if not text:
        return set()
    cpus: set[int] = set()
    for item in text.split(","):
        match = _CPULIST_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"not a cpulist item: {item!r} in {text!r}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first or last > MAX_CPU_ID:
            raise ValueError(f"bad cpulist range {item!r} in {text!r}")
        cpus.update(range(first, last + 1))
    return cpus


def format_cpulist(cpus: Iterable[int]) -> str:
    """The compact kernel form of a CPU set ("0-3,8"); parse_cpulist reads it back."""
    ids = sorted(set(cpus))
    if ids and ids[0] < 0:
        raise ValueError(f"negative CPU id {ids[0]}")
    runs: list[str] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[i - 1] + 1:
            first, last = ids[start], ids[i - 1]
            runs.append(str(first) if first == last else f"{first}-{last}")
            start = i
    return ",".join(runs)
