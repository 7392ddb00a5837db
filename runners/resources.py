"""Peak memory of the runner's process tree, from the kernel's own accounting (standard library only).

Two high-water marks of resident memory, the larger reported with its source:
- the runner process's own: /proc/self/status VmHWM where it is readable (Linux), else getrusage
  RUSAGE_SELF ru_maxrss. On Linux ru_maxrss is no measure of the runner alone: exec keeps the
  high-water mark of the image it replaces, so a runner started by a 500 MB orchestrator reads
  500 MB however little it used (measured: a 10 MB interpreter read 511 MB). It is recorded beside
  VmHWM as an upper bound only.
- its children's: getrusage RUSAGE_CHILDREN ru_maxrss, the largest child it has waited for (a
  compiler or data helper). Their inherited share is the runner's own size at fork, below VmHWM, so
  the larger of the two marks is not inflated.
It is one process's peak, not a sum over processes alive at once. ru_maxrss counts KiB on Linux,
bytes on macOS.
"""

from __future__ import annotations

import sys
from pathlib import Path

from schemas.report import Resources

# ru_maxrss's unit, per the platforms' getrusage(2) pages.
MAXRSS_UNIT_BYTES, MAXRSS_UNIT = (1, "bytes") if sys.platform == "darwin" else (1024, "KiB")


def peak() -> Resources | None:
    """The peak so far, or None where neither reading exists (Windows). Never raises: it runs as the
    report is built, where a failure must not cost the job its report."""
    hwm, own_maxrss, children = vm_hwm_bytes(), maxrss_bytes("RUSAGE_SELF"), maxrss_bytes("RUSAGE_CHILDREN")
    own = (
        (hwm, "/proc/self/status VmHWM")
        if hwm is not None
        else (own_maxrss, f"getrusage RUSAGE_SELF ru_maxrss ({MAXRSS_UNIT})")
    )
    child = (children, f"getrusage RUSAGE_CHILDREN ru_maxrss ({MAXRSS_UNIT}): a child process")
    readings = [(value, source) for value, source in (own, child) if value is not None]
    if not readings:
        return None
    value, source = max(readings, key=lambda reading: reading[0])
    return Resources(
        peak_rss_bytes=value,
        peak_rss_source=source,
        vm_hwm_bytes=hwm,
        self_maxrss_bytes=own_maxrss,
        children_maxrss_bytes=children,
    )


def maxrss_bytes(who: str) -> int | None:
    """getrusage(`who`).ru_maxrss in bytes; None where getrusage does not exist."""
    try:
        import resource

        return int(resource.getrusage(getattr(resource, who)).ru_maxrss) * MAXRSS_UNIT_BYTES
    except (ImportError, AttributeError, OSError, ValueError):
        return None


def vm_hwm_bytes(status: Path = Path("/proc/self/status")) -> int | None:
    """VmHWM ("high water mark" of resident memory, in kB = KiB) from a /proc status file, or None."""
    try:
        text = status.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2] == "kB":
                return int(parts[1]) * 1024
    return None
