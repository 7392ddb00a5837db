"""What on this machine makes timings unstable: one probe per cause, each returning a `Finding`.

A busy, throttled or frequency-scaling machine biases a framework comparison rather than adding
noise (busy cores hurt PyTorch's OpenMP workers more than TensorFlow's pool): `bench check` says what
it sees and how to fix it; `bench orchestrate` records `machine_findings()` in run.json. Every probe
reads under `root` (a fake /proc and /sys tree in the tests), boundedly, and never raises: a missing,
unreadable, garbage or absurd file is an `info` finding; `machine_findings` backstops the rest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runners.noise import proc_stat

MAX_READ = 1 << 16  # every file read here is a few lines; more is not what we expect
CPU_ROOT = "sys/devices/system/cpu"
# Thresholds (documented in docs/calibration.md): above them a job's timing is suspect.
BUSY_SHARE = 0.10  # share of all CPUs busy with other work during the sample
STEAL_SHARE = 0.02  # share of CPU time the hypervisor gave to other guests
LOAD_PER_CPU = 0.5  # 1-minute load average per CPU
MIN_AVAILABLE = 2 << 30  # bytes of available memory
HOT_MARGIN_C = 5.0  # a zone this close to its passive/hot trip point is about to throttle
HOT_C = 85.0  # warn level when a zone has no readable trip point
GPU_THROTTLE_BITS = 0x4 | 0x8 | 0x20 | 0x40 | 0x80  # power cap, HW slowdown, thermal, power brake


@dataclass(frozen=True)
class Finding:
    """One cause of unstable timings: `value` is the evidence, `advice` how to fix it ("" if ok)."""

    name: str
    status: Literal["ok", "warn", "info"]
    value: str
    advice: str = ""


def _read(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_READ).decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return None


def _int(text: str | None, base: int = 10) -> int | None:
    """The number, or None for garbage and for more digits than any counter here has."""
    try:
        return int(text, base) if text is not None and len(text) <= 40 else None
    except ValueError:
        return None


def _not_exposed(root: Path) -> str:
    flags = _read(root / "proc/cpuinfo") or ""
    return "not exposed (VM)" if " hypervisor" in flags else "not exposed"


def cpu_count(root: Path = Path("/")) -> int:
    stat = (_read(root / "proc/stat") or "").splitlines()
    return sum(1 for line in stat if line.startswith("cpu") and line[3:4].isdigit()) or os.cpu_count() or 1


def governor(root: Path = Path("/")) -> Finding:
    found: dict[str, list[str]] = {}
    for path in sorted((root / CPU_ROOT).glob("cpu[0-9]*/cpufreq/scaling_governor")):
        if (value := _read(path)) is not None:
            found.setdefault(value, []).append(path.parts[-3])
    if not found:
        return Finding("cpu governor", "info", _not_exposed(root), "the host sets the clock; nothing to do")
    text = ", ".join(f"{g} on {len(cpus)} CPU(s)" for g, cpus in found.items())
    fix = "sudo cpupower frequency-set --governor performance (clock no longer follows the load)"
    ok = set(found) == {"performance"}
    return Finding("cpu governor", "ok" if ok else "warn", text, "" if ok else fix)


def boost(root: Path = Path("/")) -> Finding:
    for rel, off, label in (("intel_pstate/no_turbo", "1", "turbo"), ("cpufreq/boost", "0", "boost")):
        value = _read(root / CPU_ROOT / rel)
        if value == off:
            return Finding("turbo/boost", "ok", f"{label} off ({rel.split('/')[0]})")
        if value in ("0", "1"):
            fix = f"echo {off} | sudo tee /{CPU_ROOT}/{rel}"
            return Finding("turbo/boost", "warn", f"{label} on: the clock follows heat and busy cores", fix)
    return Finding("turbo/boost", "info", _not_exposed(root), "the host decides; compare only within one run")


def smt(root: Path = Path("/")) -> Finding:
    active = _read(root / CPU_ROOT / "smt/active")
    control = _read(root / CPU_ROOT / "smt/control")
    if active == "1":
        fix = "intra_op_threads = physical cores, or: echo off | sudo tee /sys/devices/system/cpu/smt/control"
        return Finding("SMT", "warn", "on: threads may share a core, placement changes timings", fix)
    if active == "0":
        return Finding("SMT", "ok", f"off (control: {control})" if control else "off")
    return Finding("SMT", "info", _not_exposed(root))


def load(root: Path = Path("/"), seconds: float = 1.0) -> Finding:
    """Other work on the machine: busy CPU share and steal over a `seconds` sample, load average."""
    ncpu = cpu_count(root)
    first = proc_stat(root / "proc/stat")
    time.sleep(seconds)
    second = proc_stat(root / "proc/stat")
    avg = ((_read(root / "proc/loadavg") or "").split() or [""])[0]
    load1 = float(avg) if re.fullmatch(r"\d{1,9}(\.\d{1,9})?", avg) else None
    parts, bad = [], []
    if load1 is not None:
        parts.append(f"load {load1:.2f} on {ncpu} CPU(s)")
        if load1 > LOAD_PER_CPU * ncpu:
            bad.append("load average")
    if first and second and second[2] > first[2]:  # (busy, steal, total) CPU seconds
        total = second[2] - first[2]
        busy, steal = (second[0] - first[0]) / total, (second[1] - first[1]) / total
        parts.append(f"{busy:.0%} busy, {steal:.0%} steal over {seconds:g} s")
        bad += ["busy CPUs"] * (busy > BUSY_SHARE) + ["steal"] * (steal > STEAL_SHARE)
    if not parts:
        return Finding("load", "info", "could not read /proc/stat nor /proc/loadavg")
    fix = "stop other work (builds, browsers, another benchmark); steal: a quieter host, dedicated vCPUs"
    return Finding("load", "warn", "; ".join(parts), fix) if bad else Finding("load", "ok", "; ".join(parts))


def _meminfo(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        if (kib := _int(rest.split()[0] if rest.split() else None)) is not None and kib >= 0:
            out[key] = kib * 1024
    return out


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def swap(root: Path = Path("/")) -> Finding:
    mem = _meminfo(root)
    if "SwapTotal" not in mem or "SwapFree" not in mem:
        return Finding("swap", "info", "could not read /proc/meminfo")
    swaps = (_read(root / "proc/swaps") or "").splitlines()[1:]  # after the header line
    devices = [line.split()[0] for line in swaps if line.strip()]
    used, total = max(0, mem["SwapTotal"] - mem["SwapFree"]), mem["SwapTotal"]
    where = f" on {', '.join(devices[:3])}" if devices else ""
    if used == 0:
        return Finding("swap", "ok", f"{_gib(total)} configured{where}, none in use" if total else "no swap")
    fix = "free memory, then sudo swapoff -a && sudo swapon -a (brings swapped pages back)"
    return Finding("swap", "warn", f"{_gib(used)} of {_gib(total)} in use{where}", fix)


def memory(root: Path = Path("/")) -> Finding:
    mem = _meminfo(root)
    avail, total = mem.get("MemAvailable"), mem.get("MemTotal")
    if avail is None or not total:
        return Finding("memory", "info", "could not read /proc/meminfo")
    text = f"{_gib(avail)} available of {_gib(total)}"
    if avail < MIN_AVAILABLE or avail < total / 10:
        return Finding("memory", "warn", text, "close programs: a job that pages or swaps times the disk")
    return Finding("memory", "ok", text)


def _celsius(path: Path) -> float | None:
    milli = _int(_read(path))
    return milli / 1000 if milli is not None and -50_000 <= milli <= 200_000 else None


def thermal(root: Path = Path("/")) -> Finding:
    zones, hot = [], []
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        if (temp := _celsius(zone / "temp")) is None:
            continue
        kinds = {trip.name[: -len("type")]: _read(trip) for trip in zone.glob("trip_point_*_type")}
        temps = [_celsius(zone / f"{k}temp") for k, v in kinds.items() if v in ("passive", "hot")]
        trips = [t for t in temps if t is not None]
        limit = min(trips) - HOT_MARGIN_C if trips else HOT_C
        name = _read(zone / "type") or zone.name
        zones.append(f"{name} {temp:.0f}°C" + (f" (throttles at {min(trips):.0f}°C)" if trips else ""))
        if temp >= limit:
            hot.append(name)
    if not zones:
        return Finding("thermal", "info", _not_exposed(root), "the host manages cooling; nothing to do here")
    text = ", ".join(zones[:4]) + (f" and {len(zones) - 4} more" if len(zones) > 4 else "")
    fix = "let it cool, check fans and airflow: a hot CPU lowers its clock"
    return Finding("thermal", "warn", text, fix) if hot else Finding("thermal", "ok", text)


def _cgroup_dirs(root: Path) -> list[Path]:
    """The CPU controller's directories from this process's cgroup up to the hierarchy's root (a
    limit anywhere on the path applies), v2 first, then v1."""
    base = root / "sys/fs/cgroup"
    dirs: list[Path] = []
    for line in (_read(root / "proc/self/cgroup") or "0::/").splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            top = base if (base / "cgroup.controllers").exists() else base / "unified"
        elif "cpu" in controllers.split(","):
            top = base / controllers if (base / controllers).is_dir() else base / "cpu"
        else:
            continue
        leaf = top / path.strip("/")
        dirs += [d for d in [leaf, *leaf.parents] if d.is_relative_to(top) and d.is_dir()]
    return dirs


def _quota(directory: Path) -> float | None:
    """CPUs allowed by the directory's quota, None when unlimited or unreadable."""
    words = (_read(directory / "cpu.max") or "").split()  # v2: "max 100000" or "150000 100000"
    if len(words) >= 2:
        q, p = _int(words[0]), _int(words[1])
    else:  # v1: a quota of -1 is no limit
        q, p = _int(_read(directory / "cpu.cfs_quota_us")), _int(_read(directory / "cpu.cfs_period_us"))
    return q / p if q is not None and p and q > 0 and p > 0 else None


def cgroup(root: Path = Path("/")) -> Finding:
    dirs = _cgroup_dirs(root)
    limits = [q for d in dirs if (q := _quota(d)) is not None]
    if not dirs:
        return Finding("cgroup CPU", "info", "not exposed")
    stat = next((text for d in dirs if (text := _read(d / "cpu.stat"))), "")  # the innermost cgroup's
    counts = {key: _int(value) for key, _, value in (line.partition(" ") for line in stat.splitlines())}
    throttled, periods = counts.get("nr_throttled") or 0, counts.get("nr_periods") or 0
    parts = [f"limited to {min(limits):.2f} CPUs" if limits else "no CPU quota"]
    parts.append(f"throttled in {throttled} of {periods} periods" if throttled else "never throttled")
    fix = "intra_op_threads <= the quota, or raise it (docker --cpus, systemd CPUQuota)"
    bad = (limits and min(limits) < cpu_count(root)) or throttled
    return Finding("cgroup CPU", "warn" if bad else "ok", ", ".join(parts), fix if bad else "")


LOCK_CLOCKS = "for steadier timings lock the clocks: sudo nvidia-smi -lgc MAX,MAX (undo: -rgc)"
QUERY = "index,name,persistence_mode,clocks.sm,clocks.max.sm,temperature.gpu,clocks_throttle_reasons.active"


def _nvidia_smi() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        cmd = ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def gpu(query: Callable[[], str | None] = _nvidia_smi) -> list[Finding]:
    """Persistence mode and clocks per NVIDIA GPU; `query` returns nvidia-smi's CSV (None: no driver)."""
    text = query()
    if text is None:
        return [Finding("gpu", "info", "no NVIDIA GPU (nvidia-smi not found)")]
    findings = []
    for cells in ([c.strip() for c in line.split(",")] for line in text.splitlines()[:64]):
        if len(cells) != 7:
            continue
        index, name, persistence, sm, sm_max, temp, reasons = cells
        label, on = f"gpu {index} ({name[:60]})", persistence == "Enabled"
        fix = "" if on else "sudo nvidia-smi -pm 1 (the driver stays loaded between jobs)"
        state: Literal["ok", "warn", "info"] = "ok" if on else "warn" if persistence == "Disabled" else "info"
        findings.append(Finding(f"{label} persistence", state, persistence.lower(), fix))
        evidence = f"SM {sm} of {sm_max} MHz, {temp}°C, throttle reasons {reasons}"
        slow = bool((_int(reasons, 16) or 0) & GPU_THROTTLE_BITS)  # "[N/A]" reads as no reason
        fix = "cool the GPU; nvidia-smi -q -d PERFORMANCE says which limit" if slow else LOCK_CLOCKS
        findings.append(Finding(f"{label} clocks", "warn" if slow else "info", evidence, fix))
    return findings or [Finding("gpu", "info", "nvidia-smi gave no readable answer")]


def machine_findings(root: Path = Path("/"), sample_seconds: float = 1.0) -> list[Finding]:
    """Every probe's finding, in a fixed order; takes about `sample_seconds` (the load sample)."""
    probes: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
        ("cpu governor", lambda: governor(root)), ("turbo/boost", lambda: boost(root)),
        ("SMT", lambda: smt(root)), ("load", lambda: load(root, sample_seconds)),
        ("swap", lambda: swap(root)), ("memory", lambda: memory(root)), ("thermal", lambda: thermal(root)),
        ("cgroup CPU", lambda: cgroup(root)), ("gpu", gpu),
    ]  # fmt: skip
    findings: list[Finding] = []
    for name, probe in probes:
        try:
            found = probe()
        except Exception as exc:  # a backstop: advice must never crash the command that asks for it
            found = Finding(name, "info", f"could not check: {type(exc).__name__}: {exc}"[:200])
        findings += found if isinstance(found, list) else [found]
    return findings
