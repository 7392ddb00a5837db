"""Which CUDA major each framework's pins bring, and whether this host's NVIDIA driver can run it.

A CUDA requirements input names its CUDA major in a header line, `# cuda-major: 12`; its lock, which
keeps no comments, says it through its pins: the NVIDIA libraries the CUDA build pulls in are named
for their major (`nvidia-cudnn-cu12`, `nvidia-nccl-cu13`). A driver older than a major's
minimum makes the framework see no GPU (TensorFlow then runs on the CPU or fails "TensorFlow sees
none"), so GPU jobs are refused up front with one line that says why. Stdlib only: the orchestrator
calls this before any runner environment exists.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

# The oldest Linux driver that runs any toolkit of a CUDA major through minor-version
# compatibility: CUDA Toolkit release notes, table 2/3 ("CUDA Toolkit and Corresponding Driver
# Versions", "... Minimum Required Driver Version for CUDA Minor Version Compatibility"). A driver
# between this and the toolkit's own release driver still runs it, only PTX of a newer minor may
# fail to JIT; the wheels bring SASS for current GPUs, so that is not checked here.
MIN_DRIVER: dict[int, str] = {12: "525.60.13", 13: "580.65.06"}

_HEADER = re.compile(r"#\s*cuda-major:\s*(\d+)\s*")
_NVIDIA_LIB = re.compile(r"nvidia-[a-z0-9-]+-cu(\d+)\s*==", re.IGNORECASE)
NVIDIA_SMI = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]


class DriverError(ValueError):
    """The NVIDIA driver cannot run a framework's CUDA build; the message is one line."""


def cuda_major(requirements: Path) -> int | None:
    """The CUDA major a requirements file brings: its `# cuda-major: N` header (an input), else the
    major of the `nvidia-*-cuN` libraries it pins (a lock); None when it has neither (a CPU build)."""
    lines = requirements.read_text().splitlines()
    for line in lines:
        if not line.startswith("#"):
            continue  # the header is a comment; a pin line never declares it
        match = _HEADER.fullmatch(line.strip())
        if match:
            return int(match.group(1))
    majors = {int(m.group(1)) for m in map(_NVIDIA_LIB.match, lines) if m}
    if len(majors) > 1:  # two toolkits in one environment: which one the framework loads is luck
        found = ", ".join(map(str, sorted(majors)))
        raise DriverError(f"{requirements.name} pins NVIDIA libraries of CUDA {found}: one major only")
    return majors.pop() if majors else None


def driver_version(
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> str | None:
    """The NVIDIA driver version nvidia-smi reports (first GPU), or None when there is no driver,
    no nvidia-smi, or it fails or hangs (a wedged GPU can make nvidia-smi block for minutes)."""
    try:
        done = run(NVIDIA_SMI, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    lines = (done.stdout or "").strip().splitlines()  # one line per GPU; they share the driver
    return lines[0].strip() if lines else None


def version_key(version: str) -> tuple[int, ...]:
    """Version "580.65.06" -> (580, 65, 6): compared component by component as numbers, so 580.159.04 is
    newer than 580.65.06 (which a string comparison gets wrong); trailing zeros do not count."""
    try:
        parts = [int(p) for p in version.strip().split(".")]
    except ValueError:
        raise DriverError(f"unreadable NVIDIA driver version {version!r}") from None
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _needed(majors: Mapping[str, int | None]) -> dict[str, int]:
    """Framework -> CUDA major, for the frameworks that use CUDA at all."""
    return {fw: major for fw, major in sorted(majors.items()) if major is not None}


def _minimum(framework: str, major: int) -> str:
    if major not in MIN_DRIVER:  # a new header without its table row: refuse rather than guess
        raise DriverError(
            f"no known minimum driver for CUDA {major} ({framework}); add it to cuda_stack.MIN_DRIVER"
        )
    return MIN_DRIVER[major]


def _fallback_hint(driver: tuple[int, ...], failing: int) -> str:
    """Point at an older CUDA major this driver does run, when there is one."""
    runnable = [m for m, v in MIN_DRIVER.items() if m < failing and version_key(v) <= driver]
    if runnable:
        return f"update the NVIDIA driver or use the CUDA {max(runnable)} build"
    return "update the NVIDIA driver"


def check_driver(driver: str | None, majors: Mapping[str, int | None]) -> None:
    """Raise DriverError (one line) unless `driver` runs every framework's CUDA major; frameworks
    whose major is None (CPU builds) need nothing."""
    needed = _needed(majors)
    if not needed:
        return
    if driver is None:
        wants = ", ".join(f"{fw} (CUDA {m})" for fw, m in needed.items())
        raise DriverError(
            f"no NVIDIA driver found (nvidia-smi) but {wants} need one; install the NVIDIA driver "
            "or run on the CPU"
        )
    have = version_key(driver)
    too_old = {fw: m for fw, m in needed.items() if have < version_key(_minimum(fw, m))}
    if not too_old:
        return
    which = ", ".join(f"{fw} (CUDA {m} needs >= {MIN_DRIVER[m]})" for fw, m in too_old.items())
    hint = _fallback_hint(have, max(too_old.values()))
    raise DriverError(f"driver {driver.strip()} is too old for {which}; {hint}")


def same_major(majors: Mapping[str, int | None]) -> str | None:
    """A one-line note when the frameworks' CUDA builds are on different majors (a comparison of
    them then also compares CUDA versions), else None."""
    needed = _needed(majors)
    if len(set(needed.values())) <= 1:
        return None
    return "CUDA majors differ: " + ", ".join(f"{fw} {m}" for fw, m in needed.items())
