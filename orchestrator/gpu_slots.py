"""How jobs are placed on a GPU host: one slot per GPU, each with its own equal share of CPU cores.

A **slot** is a GPU plus a disjoint set of CPUs taken from the GPU's NUMA node where that is known, so a
job's host threads sit next to its device's PCIe root and never compete with a neighbouring job's
threads. Every slot gets the same number of CPUs (the job's thread count), because a comparison of
frameworks is only fair when each job had the same cores.

Jobs rotate over the slots (`assign`): across repeats every framework visits every GPU, so a faster or
cooler card, or a better-connected NUMA node, favours no framework. `schedule` turns an assignment into
lanes for the two modes: `exclusive` (one job on the host at a time: the cleanest timings) and
`throughput` (one job per slot at a time: all GPUs busy).

Topology discovery is read-only and never fails: a host without nvidia-smi, or a sysfs it cannot read,
yields fewer facts (no GPUs, unknown NUMA nodes), never an exception. The subprocess runner and the
sysfs root are parameters so tests can feed recorded output instead of a real GPU host.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from schemas.common import format_cpulist, parse_cpulist

Runner = Callable[..., subprocess.CompletedProcess[str]]
GpuMode = Literal["exclusive", "throughput"]
GPU_MODES: tuple[GpuMode, ...] = ("exclusive", "throughput")

NVIDIA_SMI_TIMEOUT = 20  # seconds; a wedged driver can hang nvidia-smi for minutes

# "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-...)" and, indented under it,
# "  MIG 3g.40gb     Device  0: (UUID: MIG-...)" (older drivers: "MIG-GPU-<uuid>/<gi>/<ci>").
_INDEX = re.compile(r"[0-9]{1,4}")  # str.isdigit() would accept "²", which int() refuses
_SMI_GPU_LINE = re.compile(r"GPU\s+([0-9]+):")
_SMI_MIG_LINE = re.compile(r"\s*MIG\s.*\(UUID:\s*(MIG-[^)\s]+)\)")


class SlotError(ValueError):
    """The host cannot give every GPU its own CPU; the message is one line."""


@dataclass(frozen=True)
class Gpu:
    """One device a job can be given: a whole GPU, or one MIG instance of it."""

    index: int  # nvidia-smi's index (PCI order); a MIG instance carries its parent's
    uuid: str  # "GPU-..." or "MIG-...": what CUDA_VISIBLE_DEVICES should name
    pci_bus_id: str  # as nvidia-smi prints it, e.g. "00000000:1B:00.0"
    numa_node: int | None  # None: single-node host, or sysfs did not say
    mig: bool = False


@dataclass(frozen=True)
class Slot:
    """A GPU and the CPUs its job may use (sorted); every slot of a host has the same number."""

    gpu: Gpu
    cpus: tuple[int, ...]


# --- Topology discovery ---------------------------------------------------------------------------------


def _smi(run: Runner, args: list[str]) -> str | None:
    """nvidia-smi's stdout, or None when it is missing, hangs or fails (discovery never raises)."""
    try:
        done = run(["nvidia-smi", *args], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not isinstance(done.stdout, str):
        return None
    return done.stdout


def sysfs_pci_address(bus_id: str) -> str:
    """nvidia-smi's bus id as sysfs names the device: lower case, the domain in (at least) 4 hex digits
    (nvidia-smi prints 8: "00000000:1B:00.0" -> "0000:1b:00.0")."""
    domain, sep, rest = bus_id.strip().lower().partition(":")
    if not sep:
        return bus_id.strip().lower()
    try:
        return f"{int(domain, 16):04x}:{rest}"
    except ValueError:
        return f"{domain}:{rest}"


def pci_numa_node(bus_id: str, sys_root: Path = Path("/sys")) -> int | None:
    """The NUMA node of a PCI device, or None when the kernel does not know (-1) or the file is unreadable."""
    path = sys_root / "bus" / "pci" / "devices" / sysfs_pci_address(bus_id) / "numa_node"
    try:
        node = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return node if node >= 0 else None


def parse_query_gpu(text: str) -> list[tuple[int, str, str]]:
    """(index, uuid, pci bus id) per line of `--query-gpu=index,uuid,pci.bus_id --format=csv,noheader`;
    lines that do not parse are skipped (an error message on stdout is not a GPU)."""
    rows = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3 or not _INDEX.fullmatch(fields[0]) or not fields[1] or not fields[2]:
            continue
        rows.append((int(fields[0]), fields[1], fields[2]))
    return rows


def parse_mig_enabled(text: str) -> set[int]:
    """GPU indices whose MIG mode is on, from `--query-gpu=index,mig.mode.current`: such a GPU runs
    only through its instances (none created: CUDA cannot use it at all)."""
    enabled = set()
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and _INDEX.fullmatch(fields[0]) and fields[1].lower() == "enabled":
            enabled.add(int(fields[0]))
    return enabled


def parse_mig_instances(text: str) -> dict[int, list[str]]:
    """The MIG instance UUIDs of each GPU index, from `nvidia-smi -L`; GPUs without MIG are absent."""
    instances: dict[int, list[str]] = {}
    parent: int | None = None
    for line in text.splitlines():
        if gpu := _SMI_GPU_LINE.match(line):
            parent = int(gpu.group(1))
        elif (mig := _SMI_MIG_LINE.match(line)) and parent is not None:
            instances.setdefault(parent, []).append(mig.group(1))
    return instances


def discover_gpus(run: Runner = subprocess.run, sys_root: Path = Path("/sys")) -> list[Gpu]:
    """The devices of this host in nvidia-smi's index order; [] without nvidia-smi or when it fails.

    A GPU split into MIG instances is listed as its instances instead of itself: CUDA addresses an
    instance by its UUID only, and each instance is a separate device a job can be given.
    """
    listing = _smi(run, ["--query-gpu=index,uuid,pci.bus_id", "--format=csv,noheader"])
    if listing is None:
        return []
    # Without `-L` (it failed) we still know the whole GPUs; only the MIG split is lost.
    migs = parse_mig_instances(_smi(run, ["-L"]) or "")
    gpus: list[Gpu] = []
    mig_on = parse_mig_enabled(
        _smi(run, ["--query-gpu=index,mig.mode.current", "--format=csv,noheader"]) or ""
    )
    for index, uuid, bus_id in sorted(parse_query_gpu(listing)):
        node = pci_numa_node(bus_id, sys_root)
        if index in migs:
            gpus.extend(Gpu(index, mig_uuid, bus_id, node, mig=True) for mig_uuid in migs[index])
        elif index not in mig_on:  # MIG on but no instance created: no job could use it
            gpus.append(Gpu(index, uuid, bus_id, node))
    return gpus


def numa_cpus(node: int | None, sys_root: Path = Path("/sys")) -> set[int] | None:
    """The CPUs of a NUMA node, or None when the node is unknown or its cpulist cannot be read."""
    if node is None or node < 0:
        return None
    path = sys_root / "devices" / "system" / "node" / f"node{node}" / "cpulist"
    try:
        return parse_cpulist(path.read_text())
    except (OSError, ValueError):
        return None


# --- Slots ----------------------------------------------------------------------------------------------


def _local_shares(
    gpus: Sequence[Gpu],
    allowed: set[int],
    node_cpus: Callable[[int | None], set[int] | None],
    core_of: Callable[[int], int],
) -> list[list[int]]:
    """Each GPU's even share of its own node's allowed CPUs (contiguous chunks in core order, so the
    hyperthreads of one core stay in one slot); [] for a GPU whose node is unknown or has fewer
    allowed CPUs than GPUs on it."""
    shares: list[list[int]] = [[] for _ in gpus]
    claimed: set[int] = set()
    nodes = sorted({g.numa_node for g in gpus if g.numa_node is not None})
    for node in nodes:
        cpus = node_cpus(node)
        if not cpus:
            continue
        # `claimed` guards against a sysfs that lists a CPU under two nodes: slots must stay disjoint.
        pool = sorted((cpus & allowed) - claimed, key=lambda c: (core_of(c), c))
        members = [i for i, g in enumerate(gpus) if g.numa_node == node]
        each = len(pool) // len(members)
        for k, i in enumerate(members):
            shares[i] = pool[k * each : (k + 1) * each]
        claimed.update(pool[: each * len(members)])
    return shares


def _slot_size(shares: list[list[int]], allowed: set[int]) -> int:
    """The one size every slot gets: the smallest natural share, so no slot is padded with far CPUs.

    A GPU with a local share naturally gets that share; the GPUs without one split the CPUs no local
    share took. The result is at least 1, and never more than len(allowed) // len(shares), because
    the natural shares are disjoint.
    """
    taken = {c for share in shares for c in share}
    homeless = sum(1 for share in shares if not share)
    natural = [len(share) for share in shares if share]
    if homeless:
        natural.append(len(allowed - taken) // homeless)
    return max(1, min(natural))


def core_of(cpu: int, sys_root: Path = Path("/sys")) -> int:
    """The physical core a CPU belongs to, named by its lowest hyperthread sibling (the CPU itself when
    sysfs does not say): sorting by it keeps SMT siblings next to each other."""
    path = sys_root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology" / "thread_siblings_list"
    try:
        return min(parse_cpulist(path.read_text()) or {cpu})
    except (OSError, ValueError):
        return cpu


def make_slots(
    gpus: list[Gpu],
    allowed: set[int],
    node_cpus: Callable[[int | None], set[int] | None],
    core: Callable[[int], int] = core_of,
) -> list[Slot]:
    """One slot per GPU (in the given order), each with `size` CPUs of its own from `allowed`.

    `allowed` is the orchestrator's CPU affinity (os.sched_getaffinity(0)): a job may not use more.
    CPUs come from the GPU's NUMA node where it is known, split evenly among that node's GPUs; a slot
    short of the common size (its node is unknown, or has too few allowed CPUs) is topped up from the
    allowed CPUs no slot took, lowest ids first. The common size is the smallest natural share (see
    _slot_size): equal cores for every job matter more than using every core. CPUs are handed out in
    physical-core order (`core`), so two slots never share a core through its hyperthreads unless a
    share has to split one. Raises SlotError when there are fewer allowed CPUs than GPUs.
    """
    if not gpus:
        return []
    if len(allowed) < len(gpus):
        raise SlotError(
            f"{len(allowed)} CPUs allowed for {len(gpus)} GPUs: each GPU's job needs at least one CPU "
            "of its own (widen the CPU affinity or use fewer GPUs)"
        )
    shares = _local_shares(gpus, allowed, node_cpus, core)
    size = _slot_size(shares, allowed)
    kept = [share[:size] for share in shares]
    spare = iter(sorted(allowed - {c for share in kept for c in share}, key=lambda c: (core(c), c)))
    # Feasible: size <= len(allowed) // len(gpus), so the spare CPUs cover every shortfall.
    topped = [share + [next(spare) for _ in range(size - len(share))] for share in kept]
    return [Slot(gpu, tuple(sorted(cpus))) for gpu, cpus in zip(gpus, topped, strict=True)]


def describe_slots(slots: Sequence[Slot]) -> list[dict[str, Any]]:
    """The slots as run.json records them: which device each slot index meant and which cores it had."""
    return [
        {
            "slot": i,
            "gpu_index": s.gpu.index,
            "uuid": s.gpu.uuid,
            "pci_bus_id": s.gpu.pci_bus_id,
            "numa_node": s.gpu.numa_node,
            "mig": s.gpu.mig,
            "cpus": format_cpulist(s.cpus),
        }
        for i, s in enumerate(slots)
    ]


# --- Assignment and scheduling ----------------------------------------------------------------------


def assign(jobs: Sequence[tuple[str, int]], n_slots: int, frameworks: Sequence[str]) -> list[int]:
    """The slot of each job, given as (framework, repeat) in plan order.

    Each repeat takes the next F slots (F frameworks) in turn, and after every full pass over the
    slots the start moves on by one: within a repeat the frameworks sit on different slots (when
    there are at least as many slots as frameworks), every framework visits every slot, and the
    per-GPU job counts differ by at most one for any number of repeats (a plain
    `(repeat + position) % n_slots` leaves GPUs idle in throughput mode when the repeats are not a
    multiple of the slots).
    """
    if n_slots < 1:
        raise ValueError(f"need at least one slot, got {n_slots}")
    offset = {name: k for k, name in enumerate(frameworks)}
    width = len(frameworks)
    passes = n_slots // math.gcd(width, n_slots)  # repeats per full pass over the slots
    slots = []
    for framework, repeat in jobs:
        if framework not in offset:
            raise ValueError(f"job framework {framework!r} is not one of {list(frameworks)}")
        if repeat < 0:
            raise ValueError(f"negative repeat {repeat} for {framework}")
        shift = (repeat // passes) % math.gcd(width, n_slots)
        slots.append((repeat * width + shift + offset[framework]) % n_slots)
    return slots


def schedule(assignment: Sequence[int], n_slots: int, mode: GpuMode) -> list[list[int]]:
    """The **lanes** of a run: lists of job indices. Lanes run side by side; the jobs of one lane run one
    after the other, in plan order. A scheduler starts one worker per non-empty lane and needs no other
    bookkeeping, because every job of a slot is in the same lane: two jobs never share a slot at once.

        exclusive    one lane, every job in plan order: one job on the host at a time (each still on
                     its assigned slot, so the rotation holds)
        throughput   n_slots lanes, lane i = the jobs of slot i in plan order (empty when slot i got
                     none): a job starts as soon as its own slot is free
    """
    if mode not in GPU_MODES:
        raise ValueError(f"unknown GPU mode {mode!r}; expected one of {', '.join(GPU_MODES)}")
    bad = [s for s in assignment if not 0 <= s < n_slots]
    if bad:
        raise ValueError(f"slot {bad[0]} out of range for {n_slots} slots")
    if mode == "exclusive":
        return [list(range(len(assignment)))]
    lanes: list[list[int]] = [[] for _ in range(n_slots)]
    for job, slot in enumerate(assignment):
        lanes[slot].append(job)
    return lanes
