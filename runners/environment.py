"""Environment fingerprint pieces that do not depend on the framework."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_hash() -> str:
    """sha256 over the installed distributions: two reports with the same hash ran the same stack."""
    names = sorted(
        f"{d.metadata['Name']}=={d.version}".lower() for d in metadata.distributions() if d.metadata["Name"]
    )
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def nvidia_driver() -> str | None:
    """The kernel driver's version: /proc where the host exposes it, else nvidia-smi (sandboxed VMs
    and some containers hide /proc/driver)."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        text = ""
    for word in text.split():
        if word.count(".") >= 1 and word.replace(".", "").isdigit():
            return word
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split()
    return lines[0] if out.returncode == 0 and lines else None


def nvidia_gpu_uuid(visible_index: int = 0) -> str | None:
    """UUID of the `visible_index`-th GPU this process can use, as nvidia-smi names it.

    CUDA_VISIBLE_DEVICES (set by the venv backend) maps visible indices to physical ones or UUIDs;
    inside a container given a device request the visible GPUs are all there is."""
    entries = [e.strip() for e in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if e.strip()]
    if entries:
        if visible_index >= len(entries):
            return None
        if entries[visible_index].startswith(("GPU-", "MIG-")):
            return entries[visible_index]
        query = entries[visible_index]
    else:
        query = str(visible_index)
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader", "-i", query],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def base_fields() -> dict[str, object]:
    import numpy

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "numpy": numpy.__version__,
        "env_hash": env_hash(),
        "image_digest": os.environ.get("BENCH_IMAGE_DIGEST") or None,
        "lock_hash": os.environ.get("BENCH_LOCK_HASH") or None,
        "isolation": os.environ.get("BENCH_ISOLATION") or None,
    }
