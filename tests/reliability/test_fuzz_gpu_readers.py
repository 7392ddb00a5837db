"""Hostile input to the GPU-host readers: whatever nvidia-smi, sysfs, /proc/stat or an environment
variable says, discovery never raises and a CPU list is either read exactly or refused with a
ValueError (a misread list would pin jobs to the wrong cores)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.gpu_slots import (
    discover_gpus,
    parse_mig_enabled,
    parse_mig_instances,
    parse_query_gpu,
)
from runners import noise
from schemas.common import format_cpulist, parse_cpulist

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
SMI_LIKE = st.lists(
    st.one_of(
        TEXT,
        st.builds(
            lambda i, u, b: f"{i}, {u}, {b}", st.text(max_size=6), st.text(max_size=12), st.text(max_size=18)
        ),
        st.builds(
            lambda i, u: f"  MIG 1g.10gb Device {i}: (UUID: {u})", st.text(max_size=4), st.text(max_size=12)
        ),
    ),
    max_size=12,
).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(SMI_LIKE, SMI_LIKE, SMI_LIKE)
def test_discovery_never_raises_on_any_nvidia_smi_output(query: str, listing: str, mig: str) -> None:
    outputs = {
        "--query-gpu=index,uuid,pci.bus_id": query,
        "-L": listing,
        "--query-gpu=index,mig.mode.current": mig,
    }

    def run(args: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 0, outputs.get(args[1], ""), "")

    gpus = discover_gpus(run, Path("/nonexistent"))
    assert all(g.uuid and g.index >= 0 for g in gpus)
    for parse in (parse_query_gpu, parse_mig_instances, parse_mig_enabled):
        parse(query + listing + mig)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_a_cpulist_is_read_exactly_or_refused(text: str) -> None:
    try:
        cpus = parse_cpulist(text)
    except ValueError:
        return
    assert parse_cpulist(format_cpulist(cpus)) == cpus


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 4096), max_size=64))
def test_cpulists_round_trip(cpus: set[int]) -> None:
    assert parse_cpulist(format_cpulist(cpus)) == cpus


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sets(st.integers(0, 8), min_size=1, max_size=3))
def test_proc_stat_per_cpu_is_a_reading_or_none(tmp_path_factory, data: bytes, cpus: set[int]) -> None:
    path = tmp_path_factory.mktemp("stat") / "stat"
    path.write_bytes(data)
    for watched in (None, frozenset(cpus)):
        reading = noise.proc_stat(path, watched)
        assert reading is None or all(x >= 0 for x in reading)


def test_a_garbage_noise_cpu_list_means_the_whole_machine(monkeypatch) -> None:
    monkeypatch.setenv("BENCH_NOISE_CPUS", "0-3,x")
    assert noise.watched_cpus() is None
    monkeypatch.setenv("BENCH_NOISE_CPUS", "2,4-5")
    assert noise.watched_cpus() == frozenset({2, 4, 5})
