"""What else the machine did while a job ran: the raw evidence of the noise guard (standard library only).

The runner samples the machine-wide CPU counters (/proc/stat: host-wide even inside a container),
its own CPU time (every thread of the runner process, and its waited-for children), cgroup CPU
throttling and the CPU frequency, at the start of training and around every timed epoch. The CPU time
the machine spent beyond the runner's own is *outside* load: other processes, the orchestrator, a
second benchmark. Steal is time the hypervisor gave this VM's virtual CPUs to someone else.

Whether that makes a job contaminated is the orchestrator's call (orchestrator/noise.py), so the
thresholds live in one place and re-rendering an old run applies the current ones.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from schemas.common import parse_cpulist

PROC_STAT = Path("/proc/stat")
CGROUP_CPU_STAT = (Path("/sys/fs/cgroup/cpu.stat"), Path("/sys/fs/cgroup/cpu/cpu.stat"))
CPUFREQ = Path("/sys/devices/system/cpu")
HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    wall: float  # time.monotonic()
    busy: float  # machine-wide CPU seconds not idle (user, nice, system, irq, softirq, steal, guest)
    steal: float  # machine-wide CPU seconds stolen by the hypervisor
    own: float  # this process's CPU seconds (all threads) + its waited-for children's
    throttled: float  # cgroup CPU throttled seconds (0 where not readable)
    readable: bool  # /proc/stat could be read: without it there is no evidence either way


def proc_stat(
    path: Path = PROC_STAT, cpus: frozenset[int] | None = None
) -> tuple[float, float, float] | None:
    """(busy, steal, total) CPU seconds from the aggregate `cpu` line, or summed over the `cpuN` lines
    of `cpus`; None when unreadable (also `bench check`'s reading, on a path under a fake root in its
    tests)."""
    try:
        with open(path, "rb") as fh:
            lines = [fh.readline(4096)] if cpus is None else fh.read(4 << 20).splitlines()
    except OSError:
        return None
    wanted = {b"cpu"} if cpus is None else {f"cpu{c}".encode() for c in cpus}
    busy = steal = total = 0.0
    seen = 0
    for line in lines:
        fields = line.split()
        if not fields or fields[0] not in wanted:
            continue
        counted = _ticks(fields[1:11])
        if counted is None:
            return None
        busy, steal, total = busy + counted[0], steal + counted[1], total + counted[2]
        seen += 1
    return (busy / HZ, steal / HZ, total / HZ) if seen == len(wanted) else None


def _ticks(fields: list[bytes]) -> tuple[int, int, int] | None:
    """(busy, steal, total) ticks of one /proc/stat cpu line's counters, or None if malformed."""
    if len(fields) < 4:
        return None
    try:
        ticks = [int(x) for x in fields]
    except ValueError:
        return None
    if any(t < 0 for t in ticks):
        return None
    ticks += [0] * (10 - len(ticks))
    # user nice system idle iowait irq softirq steal guest guest_nice; guest is already in user.
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, steal, busy + idle + iowait


def watched_cpus() -> frozenset[int] | None:
    """The CPUs whose load counts as noise for this job: BENCH_NOISE_CPUS (set for jobs that run side
    by side, each pinned to its own CPUs: a neighbour's load on its own cores is not this job's
    noise), else None (the whole machine)."""
    text = os.environ.get("BENCH_NOISE_CPUS", "")
    try:
        cpus = parse_cpulist(text)
    except ValueError:
        return None
    return frozenset(cpus) or None


def _throttled_seconds(paths: tuple[Path, ...] = CGROUP_CPU_STAT) -> float:
    for path in paths:
        try:
            text = path.read_text()[:8192]
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            try:
                if key == "throttled_usec":  # cgroup v2
                    return int(value) / 1e6
                if key == "throttled_time":  # cgroup v1, nanoseconds
                    return int(value) / 1e9
            except ValueError:
                return 0.0
    return 0.0


def _own_cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def sample() -> Sample:
    stat = proc_stat(cpus=watched_cpus())
    busy, steal, _ = stat if stat is not None else (0.0, 0.0, 0.0)
    return Sample(time.monotonic(), busy, steal, _own_cpu(), _throttled_seconds(), stat is not None)


def cpu_mhz(root: Path = CPUFREQ, limit: int = 256) -> float | None:
    """Mean current frequency over the CPUs that expose it (most VMs do not), in MHz."""
    values = []
    for i in range(limit):
        path = root / f"cpu{i}" / "cpufreq" / "scaling_cur_freq"
        try:
            values.append(int(path.read_text().strip()[:16]) / 1000)
        except (OSError, ValueError):
            if not (root / f"cpu{i}").exists():
                break
    return round(sum(values) / len(values), 1) if values else None


@dataclass(frozen=True)
class Window:
    """What happened between two samples."""

    seconds: float
    outside_cpu: float  # machine CPU seconds spent outside this process tree
    steal: float
    throttled: float

    @property
    def outside_cores(self) -> float:
        """Mean number of CPUs kept busy by others during the window."""
        return self.outside_cpu / self.seconds if self.seconds > 0 else 0.0


def between(a: Sample, b: Sample) -> Window:
    # Clamped at 0: the counters tick in 1/HZ steps per CPU, so a short quiet window can come out
    # slightly negative.
    return Window(
        seconds=max(b.wall - a.wall, 0.0),
        outside_cpu=max((b.busy - a.busy) - (b.own - a.own), 0.0),
        steal=max(b.steal - a.steal, 0.0),
        throttled=max(b.throttled - a.throttled, 0.0),
    )


def gpu_others(gpu_uuid: str | None, timeout: float = 10.0) -> tuple[int | None, tuple[str, ...]]:
    """(other compute processes on this GPU, its active throttle reasons) from nvidia-smi; (None, ())
    without a GPU or a driver. Read at the end of training: a process sharing the GPU then, or a
    clock held down by power or heat, is evidence the timings were not the GPU's alone."""
    import shutil
    import subprocess

    if gpu_uuid is None or shutil.which("nvidia-smi") is None:
        return None, ()
    try:
        apps = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=timeout,
        ).stdout  # fmt: skip
        reasons = subprocess.run(
            ["nvidia-smi", f"--id={gpu_uuid}", "--query-gpu=clocks_event_reasons.active",
             "--format=csv,noheader"],
            capture_output=True, text=True, timeout=timeout,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, ()
    own = str(os.getpid())
    others = [
        line for line in apps.splitlines()
        if line.split(",")[0].strip() == gpu_uuid and line.split(",")[-1].strip() != own
    ]  # fmt: skip
    return len(others), _throttle_names(reasons)


def _throttle_names(mask_text: str) -> tuple[str, ...]:
    from runners.gpu import reason_names

    try:
        mask = int(mask_text.split()[0], 16)
    except (ValueError, IndexError):
        return ()
    return reason_names(mask)
