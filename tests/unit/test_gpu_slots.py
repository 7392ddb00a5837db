"""GPU slots: topology discovery from recorded nvidia-smi output and a fake sysfs, CPU shares per GPU,
the rotation of frameworks over GPUs, and the lanes of the two modes. No GPU, no subprocess."""

from __future__ import annotations

import heapq
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.gpu_slots import (
    Gpu,
    GpuMode,
    Slot,
    SlotError,
    assign,
    describe_slots,
    discover_gpus,
    format_cpulist,
    make_slots,
    numa_cpus,
    parse_cpulist,
    parse_query_gpu,
    schedule,
    sysfs_pci_address,
)

NodeCpus = Callable[[int | None], set[int] | None]


def gpus_on(nodes: list[int | None]) -> list[Gpu]:
    return [Gpu(i, f"GPU-{i:04d}", f"00000000:{0x10 + i:02X}:00.0", node) for i, node in enumerate(nodes)]


def nodes_of(layout: dict[int, set[int]]) -> NodeCpus:
    return lambda node: None if node is None else layout.get(node)


TWO_NODES = {0: set(range(32)), 1: set(range(32, 64))}


def check_slots(slots: list[Slot], allowed: set[int]) -> int:
    """The invariants every slot layout keeps; returns the common size."""
    sizes = {len(s.cpus) for s in slots}
    assert len(sizes) == 1, f"unequal slots: {sizes}"
    size = sizes.pop()
    assert size >= 1
    every = [c for s in slots for c in s.cpus]
    assert len(every) == len(set(every)), "slots share a CPU"
    assert set(every) <= allowed
    assert all(list(s.cpus) == sorted(s.cpus) for s in slots)
    return size


# --- slots ----------------------------------------------------------------------------------------------


def test_eight_gpus_on_two_nodes_get_equal_local_disjoint_cpus() -> None:
    gpus = gpus_on([0, 0, 0, 0, 1, 1, 1, 1])
    slots = make_slots(gpus, set(range(64)), nodes_of(TWO_NODES))
    assert [s.gpu for s in slots] == gpus
    assert check_slots(slots, set(range(64))) == 8
    for s in slots:
        assert set(s.cpus) <= TWO_NODES[s.gpu.numa_node or 0]
    assert slots[0].cpus == tuple(range(8)) and slots[4].cpus == tuple(range(32, 40))


def test_uneven_nodes_shrink_every_slot_to_the_smallest_local_share() -> None:
    # Node 0 splits 32 CPUs three ways (10 each); the lone GPU of node 1 gets 10 too, not 32.
    slots = make_slots(gpus_on([0, 0, 0, 1]), set(range(64)), nodes_of(TWO_NODES))
    assert check_slots(slots, set(range(64))) == 10
    for s in slots:
        assert set(s.cpus) <= TWO_NODES[s.gpu.numa_node or 0]


def test_restricted_affinity_tops_up_from_the_cpus_left() -> None:
    # Only 0-9 allowed: node 1's GPUs have no local CPU and borrow node 0's leftovers.
    allowed = set(range(10))
    slots = make_slots(gpus_on([0, 0, 0, 0, 1, 1, 1, 1]), allowed, nodes_of(TWO_NODES))
    assert check_slots(slots, allowed) == 1


def test_restricted_affinity_within_one_node_keeps_gpus_local() -> None:
    allowed = set(range(0, 10)) | set(range(32, 42))
    slots = make_slots(gpus_on([0, 0, 1, 1]), allowed, nodes_of(TWO_NODES))
    assert check_slots(slots, allowed) == 5
    for s in slots:
        assert set(s.cpus) <= TWO_NODES[s.gpu.numa_node or 0]


def test_unknown_numa_nodes_split_the_allowed_cpus() -> None:
    slots = make_slots(gpus_on([None, None, None]), set(range(16)), nodes_of(TWO_NODES))
    assert check_slots(slots, set(range(16))) == 5
    assert [s.cpus for s in slots] == [tuple(range(0, 5)), tuple(range(5, 10)), tuple(range(10, 15))]


def test_a_node_without_a_cpulist_counts_as_unknown() -> None:
    slots = make_slots(gpus_on([0, 7]), set(range(64)), nodes_of(TWO_NODES))
    # GPU 0 has node 0 (32 CPUs); GPU 1's node 7 is unknown and shares the 32 left: 32 each.
    assert check_slots(slots, set(range(64))) == 32
    assert set(slots[0].cpus) == TWO_NODES[0]


def test_fewer_cpus_than_gpus_is_a_one_line_error() -> None:
    with pytest.raises(SlotError, match="3 CPUs allowed for 4 GPUs") as err:
        make_slots(gpus_on([0, 0, 1, 1]), {0, 1, 32}, nodes_of(TWO_NODES))
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_no_gpus_no_slots() -> None:
    assert make_slots([], set(), nodes_of(TWO_NODES)) == []


def test_slots_are_deterministic() -> None:
    gpus = gpus_on([1, 0, None, 1, 0])
    allowed = set(range(3, 50, 2))
    assert make_slots(gpus, allowed, nodes_of(TWO_NODES)) == make_slots(gpus, allowed, nodes_of(TWO_NODES))


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[Gpu], set[int], dict[int, set[int]]]:
    """A host: 1-4 nodes of 1-32 CPUs each, 1-16 GPUs on random (or unknown, or CPU-less) nodes and a
    random affinity of at least one CPU per GPU."""
    sizes = draw(st.lists(st.integers(1, 32), min_size=1, max_size=4))
    layout: dict[int, set[int]] = {}
    start = 0
    for node, size in enumerate(sizes):
        layout[node] = set(range(start, start + size))
        start += size
    n_gpus = draw(st.integers(1, min(16, start)))
    nodes = draw(st.lists(st.sampled_from([None, *layout, len(layout)]), min_size=n_gpus, max_size=n_gpus))
    allowed = draw(st.sets(st.integers(0, start - 1), min_size=n_gpus))
    return gpus_on(nodes), allowed, layout


@settings(max_examples=300, deadline=None)
@given(layouts())
def test_any_host_with_a_cpu_per_gpu_gets_equal_disjoint_slots(
    host: tuple[list[Gpu], set[int], dict[int, set[int]]],
) -> None:
    gpus, allowed, layout = host
    slots = make_slots(gpus, allowed, nodes_of(layout))
    assert [s.gpu for s in slots] == gpus
    check_slots(slots, allowed)
    # A GPU whose node has an allowed CPU for each of its GPUs runs on that node's CPUs alone.
    for s in slots:
        node = s.gpu.numa_node
        if node in layout:
            on_node = sum(1 for g in gpus if g.numa_node == node)
            if len(layout[node] & allowed) >= on_node:
                assert set(s.cpus) <= layout[node]


# --- cpulists -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0-3,8-11", {0, 1, 2, 3, 8, 9, 10, 11}), ("5", {5}), ("0-1,3\n", {0, 1, 3}), ("\n", set())],
)
def test_parse_cpulist(text: str, cpus: set[int]) -> None:
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize(
    "garbage", ["a", "1,,2", "3-1", "-1", "1-", "0-3:2", "1 ,2", "0x3", "1;2", "0-99999999"]
)
def test_parse_cpulist_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_cpulist(garbage)


def test_format_cpulist() -> None:
    assert format_cpulist([8, 0, 1, 2, 3]) == "0-3,8"
    assert format_cpulist([4, 5]) == "4-5"
    assert format_cpulist([]) == ""
    with pytest.raises(ValueError):
        format_cpulist([-1])


@given(st.sets(st.integers(0, 300)))
def test_cpulist_round_trip(cpus: set[int]) -> None:
    assert parse_cpulist(format_cpulist(cpus)) == cpus


# --- discovery ------------------------------------------------------------------------------------------

QUERY = """\
0, GPU-aaaa, 00000000:1B:00.0
1, GPU-bbbb, 00000000:41:00.0
2, GPU-cccc, 00000001:C1:00.0
"""

LISTING = """\
GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaa)
GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-bbbb)
  MIG 3g.40gb     Device  0: (UUID: MIG-1111)
  MIG 3g.40gb     Device  1: (UUID: MIG-2222)
GPU 2: NVIDIA A100-SXM4-80GB (UUID: GPU-cccc)
"""


def fake_smi(outputs: dict[str, str | None]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A stand-in for subprocess.run: nvidia-smi's stdout by its first argument (None: not installed)."""

    def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert args[0] == "nvidia-smi" and kwargs["timeout"] == 20
        out = outputs.get(args[1], "")  # a query a test does not script prints nothing
        if out is None:
            raise FileNotFoundError("nvidia-smi")
        return subprocess.CompletedProcess(args, 0, out, "")

    return run


def fake_sysfs(root: Path, numa: dict[str, str]) -> Path:
    for address, node in numa.items():
        (root / "bus/pci/devices" / address).mkdir(parents=True)
        (root / "bus/pci/devices" / address / "numa_node").write_text(node)
    return root


def test_discovery_reads_numa_nodes_and_splits_mig_gpus(tmp_path: Path) -> None:
    sys_root = fake_sysfs(tmp_path, {"0000:1b:00.0": "0\n", "0000:41:00.0": "1\n", "0001:c1:00.0": "-1\n"})
    run = fake_smi({"--query-gpu=index,uuid,pci.bus_id": QUERY, "-L": LISTING})
    assert discover_gpus(run, sys_root) == [
        Gpu(0, "GPU-aaaa", "00000000:1B:00.0", 0),
        Gpu(1, "MIG-1111", "00000000:41:00.0", 1, mig=True),
        Gpu(1, "MIG-2222", "00000000:41:00.0", 1, mig=True),
        Gpu(2, "GPU-cccc", "00000001:C1:00.0", None),
    ]


def test_discovery_old_driver_mig_uuids_and_missing_sysfs(tmp_path: Path) -> None:
    listing = "GPU 0: A100 (UUID: GPU-aaaa)\n  MIG 1g.5gb Device 0: (UUID: MIG-GPU-aaaa/7/0)\n"
    run = fake_smi({"--query-gpu=index,uuid,pci.bus_id": QUERY.splitlines()[0], "-L": listing})
    assert discover_gpus(run, tmp_path) == [Gpu(0, "MIG-GPU-aaaa/7/0", "00000000:1B:00.0", None, mig=True)]


def test_discovery_never_fails(tmp_path: Path) -> None:
    assert discover_gpus(fake_smi({"--query-gpu=index,uuid,pci.bus_id": None}), tmp_path) == []

    def hangs(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(args, kwargs["timeout"])

    assert discover_gpus(hangs, tmp_path) == []

    def fails(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 9, "NVIDIA-SMI has failed\n", "")

    assert discover_gpus(fails, tmp_path) == []
    # `-L` failing loses only the MIG split; garbage lines in the query are skipped.
    run = fake_smi({"--query-gpu=index,uuid,pci.bus_id": "No devices were found\n" + QUERY, "-L": None})
    assert [g.uuid for g in discover_gpus(run, tmp_path)] == ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]


def test_sysfs_pci_address() -> None:
    assert sysfs_pci_address("00000000:1B:00.0") == "0000:1b:00.0"
    assert sysfs_pci_address("0000:1b:00.0") == "0000:1b:00.0"
    assert sysfs_pci_address("00010000:01:00.0") == "10000:01:00.0"


def test_numa_cpus(tmp_path: Path) -> None:
    node = tmp_path / "devices/system/node/node1"
    node.mkdir(parents=True)
    (node / "cpulist").write_text("32-47,96-111\n")
    assert numa_cpus(1, tmp_path) == set(range(32, 48)) | set(range(96, 112))
    assert numa_cpus(None, tmp_path) is None
    assert numa_cpus(0, tmp_path) is None  # no such node
    (node / "cpulist").write_text("garbage\n")
    assert numa_cpus(1, tmp_path) is None


def test_describe_slots() -> None:
    gpu = Gpu(3, "MIG-1", "00000000:41:00.0", 1, mig=True)
    assert describe_slots([Slot(gpu, (0, 1, 2, 3, 8))]) == [
        {
            "slot": 0,
            "gpu_index": 3,
            "uuid": "MIG-1",
            "pci_bus_id": "00000000:41:00.0",
            "numa_node": 1,
            "mig": True,
            "cpus": "0-3,8",
        }
    ]


# --- rotation -------------------------------------------------------------------------------------------

FRAMEWORKS = ["pytorch", "tensorflow"]


def plan(repeats: int, frameworks: list[str] = FRAMEWORKS) -> list[tuple[str, int]]:
    """Jobs in plan order: repeat-major, frameworks interleaved."""
    return [(f, r) for r in range(repeats) for f in frameworks]


def test_every_framework_visits_every_gpu_and_never_shares_one_within_a_repeat() -> None:
    jobs = plan(16)
    slots = assign(jobs, 8, FRAMEWORKS)
    for framework in FRAMEWORKS:
        visited = [s for (f, _), s in zip(jobs, slots, strict=True) if f == framework]
        assert sorted(visited) == sorted(list(range(8)) * 2)
        assert set(visited[:8]) == set(range(8))  # each block of 8 repeats is a full tour
    for r in range(16):
        assert slots[2 * r] != slots[2 * r + 1]


def test_two_slots_alternate() -> None:
    jobs = plan(6)
    slots = assign(jobs, 2, FRAMEWORKS)
    assert slots == [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0]


def test_assign_rejects_unknown_frameworks_and_no_slots() -> None:
    with pytest.raises(ValueError, match="jax"):
        assign([("jax", 0)], 2, FRAMEWORKS)
    with pytest.raises(ValueError):
        assign(plan(1), 0, FRAMEWORKS)


# --- schedule -------------------------------------------------------------------------------------------


def simulate(lanes: list[list[int]], seed: int) -> dict[int, tuple[float, float]]:
    """(start, end) of each job when every lane runs its jobs back to back from time 0, each job taking a
    random time: what a scheduler that starts one worker per lane does."""
    rng = random.Random(seed)
    times: dict[int, tuple[float, float]] = {}
    ready = [(0.0, lane) for lane in range(len(lanes)) if lanes[lane]]
    position = [0] * len(lanes)
    heapq.heapify(ready)
    while ready:
        now, lane = heapq.heappop(ready)
        job = lanes[lane][position[lane]]
        times[job] = (now, now + rng.uniform(0.5, 3.0))
        position[lane] += 1
        if position[lane] < len(lanes[lane]):
            heapq.heappush(ready, (times[job][1], lane))
    return times


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("mode", ["exclusive", "throughput"])
@pytest.mark.parametrize("seed", range(5))
def test_no_two_jobs_share_a_slot_at_once(mode: GpuMode, seed: int) -> None:
    jobs = plan(16)
    slots = assign(jobs, 8, FRAMEWORKS)
    lanes = schedule(slots, 8, mode)
    assert sorted(j for lane in lanes for j in lane) == list(range(len(jobs)))
    times = simulate(lanes, seed)
    for a in range(len(jobs)):
        for b in range(a + 1, len(jobs)):
            if overlaps(times[a], times[b]):
                assert mode == "throughput", "exclusive mode ran two jobs at once"
                assert slots[a] != slots[b], f"jobs {a} and {b} shared slot {slots[a]}"
    # Each slot runs its jobs in plan order.
    for slot in range(8):
        mine = [j for j in range(len(jobs)) if slots[j] == slot]
        assert sorted(mine, key=lambda j: times[j][0]) == mine


def test_lanes() -> None:
    assert schedule([0, 1, 1, 0], 2, "exclusive") == [[0, 1, 2, 3]]
    assert schedule([0, 1, 1, 0], 3, "throughput") == [[0, 3], [1, 2], []]
    with pytest.raises(ValueError, match="out of range"):
        schedule([0, 2], 2, "throughput")
    with pytest.raises(ValueError, match="unknown GPU mode"):
        schedule([0], 1, "shared")  # type: ignore[arg-type]


def test_a_gpu_in_mig_mode_without_instances_is_not_offered() -> None:
    """CUDA cannot run on a MIG-enabled GPU that has no instance: every job placed there would fail."""
    query = "0, GPU-aaaa, 00000000:1B:00.0\n1, GPU-bbbb, 00000000:41:00.0\n"
    run = fake_smi({"--query-gpu=index,uuid,pci.bus_id": query, "-L": "GPU 0: A\nGPU 1: B\n",
                    "--query-gpu=index,mig.mode.current": "0, [N/A]\n1, Enabled\n"})  # fmt: skip
    assert [g.uuid for g in discover_gpus(run, Path("/nonexistent"))] == ["GPU-aaaa"]


def test_an_index_that_only_looks_like_a_number_is_skipped() -> None:
    assert parse_query_gpu("\u00b2, GPU-aaaa, 00000000:1B:00.0\n3, GPU-b, 00000000:41:00.0") == [
        (3, "GPU-b", "00000000:41:00.0")
    ]


def test_hyperthread_siblings_stay_in_one_slot() -> None:
    """Node 0 with 8 cores of 2 threads numbered like most Linux hosts (sibling of c is c + 8) and 2
    GPUs: a plain sorted split would give one slot CPUs 0-3 + 4-7 and the other 8-15, i.e. each core's
    two threads to different jobs."""
    gpus = gpus_on([0, 0])
    slots = make_slots(gpus, set(range(16)), nodes_of({0: set(range(16))}), core=lambda c: c % 8)
    cores = [{c % 8 for c in s.cpus} for s in slots]
    assert not cores[0] & cores[1] and [len(s.cpus) for s in slots] == [8, 8]
