"""What `--gpus` means on this machine: the NVIDIA GPUs visible here, asked once per run.

The local executor resolves `--gpus` with `resolve_device`; the Ray executor asks the cluster instead
(executors/ray_cluster.py). Either way the run gets exactly one resolved `Device`.
"""

from __future__ import annotations

import os
import shutil

from orchestrator.gpu_slots import Gpu, discover_gpus
from schemas.job import Device


class DeviceError(ValueError):
    """--gpus names devices this host does not have; the message is one line."""


def offered_gpus() -> list[Gpu]:
    """This host's GPUs (or MIG instances) that `bench` may use: all of them, or those the caller's
    own CUDA_VISIBLE_DEVICES names (indices read in nvidia-smi's PCI order, or UUIDs or their
    prefixes, as CUDA takes them), so a shared host's reservation is honoured."""
    gpus = discover_gpus()
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        return gpus
    entries = [e.strip() for e in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if e.strip()]
    return [
        g
        for g in gpus
        if str(g.index) in entries or any(g.uuid.startswith(e) for e in entries if e[:4] in ("GPU-", "MIG-"))
    ]


def visible_gpus() -> list[int]:
    """nvidia-smi's indices (PCI order: what device requests and --gpus use) of the offered GPUs."""
    return sorted({gpu.index for gpu in offered_gpus()})


def parse_gpu_ids(gpus: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(x) for x in gpus.split(","))
    except ValueError:
        raise DeviceError(f"--gpus must be all, none or a list like 0,1; got {gpus!r}") from None
    if any(i < 0 or i > 1023 for i in ids) or len(set(ids)) != len(ids):
        raise DeviceError(f"--gpus {gpus}: ids must be distinct numbers between 0 and 1023")
    return ids


def resolve_device(gpus: str) -> tuple[Device, str]:
    """(the device every job of the run gets, a note for the user or '')."""
    if gpus == "none":
        return Device(kind="cpu"), ""
    if gpus == "all":
        found = visible_gpus()
        if not found:
            return Device(kind="cpu"), "--gpus all: no NVIDIA GPU visible (nvidia-smi), running on the CPU"
        return Device(kind="gpu", gpu_ids=tuple(found)), ""
    ids = parse_gpu_ids(gpus)
    # Explicit ids are a promise: fail before any job, in one line, instead of N failed jobs.
    found = visible_gpus()
    if not found:
        why = "nvidia-smi lists none" if shutil.which("nvidia-smi") else "no nvidia-smi: no NVIDIA driver"
        raise DeviceError(f"--gpus {gpus}: no NVIDIA GPU on this host ({why}); use --gpus none")
    missing = [i for i in ids if i not in found]
    if missing:
        raise DeviceError(
            f"--gpus {gpus}: GPU {','.join(map(str, missing))} is not present (this host has "
            f"{','.join(map(str, found))})"
        )
    return Device(kind="gpu", gpu_ids=ids), ""


def variant_for(device: Device) -> str:
    """The runner image variant a device needs."""
    return "cuda" if device.kind == "gpu" else "cpu"
