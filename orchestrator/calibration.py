"""What this machine can do, measured once and stored per hardware class.

Absolute times are only comparable on the same hardware (this project's machines change processor
between sessions: the same 2-thread GEMM runs at ~60 GFLOP/s one day and ~366 the next), so a run
carries the calibration of the machine it ran on:

    gemm_rate             fp32 GEMM GFLOP/s of one framework, run in its own runner environment
                          (`python -m runners.gemm`), so the ratio "job GFLOP/s / GEMM GFLOP/s" says
                          whether a framework is slow at the maths or around it
    memory_bandwidth      numpy copy of a 256 MB array, GB/s counting bytes read + written (STREAM)
    timer_resolution      perf_counter's smallest observed step: a timed region must be far longer
    aa_floor              the machine's A/A noise floor for epoch times (None until measured)

    load_calibration()    the stored Calibration of this machine's class, or None (never raises)
    margin(calibration)   the verdicts' practical-equivalence margin: max(5%, the A/A floor)

The store is one JSON file per hardware class, `$BENCH_CALIBRATION_DIR` or
`~/.cache/bench/calibration/<machine-key>.json`, written atomically; the class is `hardware_class`
("CPU model xN[, GPU]"), the same function the results' `hardware` column uses, so a run's rows and
its calibration name the same machine.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator import machine
from runners import noise
from runners.environment import cpu_model
from schemas.common import ROOT, write_text_atomic
from schemas.parse import ParseError, load_json_bytes, one_line

SCHEMA_VERSION = 1
AA_MIN_REPEATS = 10
MIN_MARGIN = 0.05  # the design's floor for "equivalent": 5% whatever the machine
MAX_STORE_BYTES = 1 << 20  # a calibration is ~2 KB; anything near a megabyte is not ours
GEMM_TIMEOUT = 600.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GemmRate(_Model):
    framework: str
    version: str
    size: int = Field(ge=1)
    threads: int = Field(ge=1)
    gflops: float = Field(gt=0)
    seconds: float = Field(gt=0, description="best time of one multiplication")
    calls: int = Field(ge=1)
    repeats: int = Field(ge=1)


class TimerInfo(_Model):
    implementation: str
    stated_resolution: float = Field(description="seconds, as time.get_clock_info says")
    smallest_step: float = Field(description="seconds: smallest nonzero difference of two reads")
    monotonic: bool


class Calibration(_Model):
    schema_version: int = SCHEMA_VERSION
    machine_key: str
    hardware: str
    cpu_model: str
    cpu_count: int
    gpu_name: str | None = None
    measured_at: str
    seconds: float = Field(description="how long the calibration took")
    load_before: str = Field(description="bench check's load finding just before measuring")
    outside_busy: float | None = Field(default=None, description="CPU share other processes used meanwhile")
    gemm: list[GemmRate] = []
    memory_bandwidth_gbs: float | None = None
    timer: TimerInfo | None = None
    aa_floor: float | None = Field(default=None, description="A/A noise floor of epoch times (ratio)")
    aa_run: str | None = Field(default=None, description="the run directory the A/A floor came from")
    notes: list[str] = Field(default=[], description="what could not be measured, and why")


class CalibrationError(RuntimeError):
    """One measurement failed; the message is one line."""


def gpu_name() -> str | None:
    """The first visible NVIDIA GPU's name as nvidia-smi gives it (the runners' env.gpu.name)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        cmd = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def hardware_class(cpu: str, count: int, gpu: str | None) -> str:
    """What timings may be compared across (the results' `hardware` column, the store's key)."""
    return f"{cpu} x{count}" + (f", {gpu}" if gpu else "")


def machine_key(hardware: str) -> str:
    """A file-name-safe slug of the hardware class: "AMD EPYC x2" -> "amd-epyc-x2"."""
    return re.sub(r"[^a-z0-9.]+", "-", hardware.lower()).strip("-.")[:120] or "unknown"


def this_machine() -> tuple[str, str | None]:
    """(hardware class, GPU name) of the machine this process runs on."""
    gpu = gpu_name()
    return hardware_class(cpu_model(), os.cpu_count() or 1, gpu), gpu


def calibration_dir() -> Path:
    return Path(os.environ.get("BENCH_CALIBRATION_DIR") or Path.home() / ".cache/bench/calibration")


def store_path(hardware: str | None = None) -> Path:
    return calibration_dir() / f"{machine_key(hardware or this_machine()[0])}.json"


def save(calibration: Calibration) -> Path:
    return write_text_atomic(
        calibration_dir() / f"{calibration.machine_key}.json", calibration.model_dump_json(indent=2) + "\n"
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def load_calibration(path: Path | None = None, warn: Callable[[str], None] = _stderr) -> Calibration | None:
    """This machine's stored calibration (or the one at `path`); None when there is none. A damaged,
    foreign or unreadable file is one warning line through `warn` and None: never a traceback."""
    path = path or store_path()
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_STORE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        warn(one_line(f"warning: cannot read calibration {path}: {exc.strerror or exc}; not calibrated"))
        return None
    try:
        if len(data) > MAX_STORE_BYTES:
            raise ParseError(f"{path}: larger than {MAX_STORE_BYTES // 1024} KiB")
        value = load_json_bytes(data, str(path))
        if isinstance(value, dict) and value.get("schema_version") != SCHEMA_VERSION:
            raise ParseError(f"{path}: schema_version {value.get('schema_version')!r}, not {SCHEMA_VERSION}")
        return Calibration.model_validate(value)
    except (ParseError, ValidationError) as exc:
        reason = str(exc) if isinstance(exc, ParseError) else f"{path}: {exc.errors()[0]['msg']}"
        warn(one_line(f"warning: damaged calibration ({reason}); not calibrated: rerun bench calibrate"))
        return None


def margin(calibration: Calibration | None) -> float:
    """The practical-equivalence margin of the verdicts: max(5%, the machine's A/A noise floor)."""
    floor = calibration.aa_floor if calibration is not None else None
    return max(MIN_MARGIN, floor if floor is not None and math.isfinite(floor) else 0.0)


def aa_noise_floor(steady_seconds: Mapping[str, Sequence[float]]) -> float | None:
    """The A/A noise floor from an interleaved run of each framework against itself (framework ->
    its repeats' steady-state epoch seconds): how far one repeat typically strays from another of
    the very same job on this machine, as a ratio: expm1(1.4826 x the median absolute deviation of
    the log times), the robust standard deviation, so one freak repeat does not set it; the largest
    over the frameworks. None with fewer than 10 repeats of each. A verdict margin below it would
    call differences "real" that identical runs show by themselves."""
    floors = []
    for values in steady_seconds.values():
        logs = np.log(np.asarray([v for v in values if v > 0 and math.isfinite(v)], dtype=np.float64))
        if len(logs) < AA_MIN_REPEATS:
            return None
        mad = float(np.median(np.abs(logs - np.median(logs))))
        floors.append(math.expm1(1.4826 * mad))
    return max(floors) if floors else None


def run_aa(log: Callable[[str], None]) -> tuple[float | None, Path]:
    """Run suites/aa.toml (each framework 10 times, interleaved) through `bench orchestrate`, as a
    user's run would go, and compute the floor from its clean (not contaminated) ok jobs."""
    from orchestrator.results.tidy import final_frame, load_run, metrics_frame

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = ROOT / "results" / f"calibration-aa-{stamp}"
    cmd = [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(ROOT / "suites" / "aa.toml"),
           "--out", str(out), "--gpus", "none"]  # fmt: skip
    log(f"A/A run: {' '.join(cmd[2:])}")
    done = subprocess.run(cmd, cwd=ROOT, check=False)
    if not (out / "run.json").exists():
        raise CalibrationError(f"the A/A run did not start (exit {done.returncode})")
    final = final_frame(metrics_frame(load_run(out)))
    used = final[final["in_verdicts"]].sort_values("repeat")
    steady = {str(fw): rows["steady_epoch_seconds"].tolist() for fw, rows in used.groupby("framework")}
    return aa_noise_floor(steady), out


def gemm_rate(framework: str, python: Path, size: int, threads: int, repeats: int = 5) -> GemmRate:
    """`python -m runners.gemm` in the framework's environment; CalibrationError on any failure."""
    cmd = [str(python), "-m", "runners.gemm", "--framework", framework, "--size", str(size)]
    cmd += ["--threads", str(threads), "--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=GEMM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CalibrationError(f"{framework} GEMM {size}: no answer in {GEMM_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise CalibrationError(f"{framework} GEMM {size}: cannot run {python}: {exc.strerror}") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    try:
        value = load_json_bytes(lines[-1], "its output") if lines else None
        if isinstance(value, dict) and proc.returncode == 0:
            return GemmRate.model_validate(value)
        why = str(value.get("error") or why) if isinstance(value, dict) else why
    except ParseError as exc:
        why = str(exc)
    except ValidationError as exc:
        why = f"unexpected output: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
    raise CalibrationError(one_line(f"{framework} GEMM {size}: exit {proc.returncode}: {why}"[:300]))


def memory_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """GB/s of a numpy copy, best of `repeats`, counting bytes read plus bytes written (STREAM's
    convention); both buffers are touched first so page faults are not timed."""
    import numpy as np

    src = np.ones(megabytes * (1 << 20) // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    best = math.inf
    for _ in range(repeats + 1):  # the first copy warms caches and TLBs
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def timer_resolution(reads: int = 200_000) -> TimerInfo:
    """perf_counter's smallest nonzero step over `reads` back-to-back reads (the call's own cost on
    a nanosecond clock) and what the clock says of itself."""
    info = time.get_clock_info("perf_counter")
    smallest, clock = math.inf, time.perf_counter
    previous = clock()
    for _ in range(reads):
        now = clock()
        if now != previous:
            smallest = min(smallest, now - previous)
            previous = now
    return TimerInfo(
        implementation=info.implementation,
        stated_resolution=info.resolution,
        smallest_step=smallest if math.isfinite(smallest) else info.resolution,
        monotonic=info.monotonic,
    )


def outside_share(window: noise.Window, readable: bool, cpu_count: int) -> float | None:
    """Share of all CPU time that other processes used during the measurements: a calibration
    measured while something else ran reads low (busy cores, not this machine)."""
    if not readable or window.seconds <= 0:
        return None
    return min(1.0, window.outside_cores / max(cpu_count, 1))


def measure(
    pythons: Mapping[str, Path | str],
    sizes: Sequence[int],
    threads: int,
    repeats: int = 5,
    log: Callable[[str], None] = _stderr,
    notes: Sequence[str] = (),
) -> Calibration:
    """Every measurement, in order (GEMM per framework and size, bandwidth, timer); `pythons` maps a
    framework to the interpreter of its environment. A failed measurement becomes a note."""
    hardware, gpu = this_machine()
    load_before = machine.load().value  # one second: what else ran as the measuring began
    start, before = time.monotonic(), noise.sample()
    found, notes = [], list(notes)
    for framework, python in pythons.items():
        for size in sizes:
            log(f"GEMM fp32 {framework} {size}x{size}, {threads} thread(s)")
            try:
                found.append(gemm_rate(framework, Path(python), size, threads, repeats))
            except CalibrationError as exc:
                notes.append(str(exc))
                log(f"  failed: {exc}")
    log("memory bandwidth (numpy copy of 256 MB)")
    try:
        bandwidth: float | None = memory_bandwidth()
    except MemoryError:
        bandwidth = None
        notes.append("memory bandwidth: not enough memory for two 256 MB buffers")
    log("timer resolution (perf_counter)")
    timer = timer_resolution()
    window = noise.between(before, noise.sample())
    return Calibration(
        machine_key=machine_key(hardware),
        hardware=hardware,
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 1,
        gpu_name=gpu,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=time.monotonic() - start,
        load_before=load_before,
        outside_busy=outside_share(window, before.readable, os.cpu_count() or 1),
        gemm=found,
        memory_bandwidth_gbs=bandwidth,
        timer=timer,
        notes=notes,
    )
