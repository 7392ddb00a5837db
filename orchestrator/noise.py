"""The noise guard's judgement: was a job timed while the machine did other work?

Background load is not noise that averages out: PyTorch's OpenMP workers spin and wait on busy cores
and TensorFlow's thread pool degrades far less, so a busy machine biases a comparison against one
framework (design: fairness rule 10). The runner records the evidence (runners/noise.py); this module
is the one place that judges it. A job is **contaminated** when any of these holds:

    outside load   other processes used more than OUTSIDE_SHARE (10%) of the machine's CPUs, on
                   average, from the runner's start to its last epoch, or over its timed steps alone
                   (each window judged only when it lasts MIN_WINDOW_SECONDS: /proc/stat counts in
                   1/100 s ticks per CPU, so a window of a few milliseconds says nothing)
    steal          the hypervisor took more than STEAL_SHARE (5%) of the machine's CPU time
    throttling     the job's cgroup was CPU-throttled for more than THROTTLE_SHARE (5%) of the time
    spread         its steady-state epochs (2..N, at least MIN_SPREAD_EPOCHS of them, median at least
                   MIN_SPREAD_SECONDS) spread beyond SPREAD_LIMIT (slowest / median > 2)
    GPU            another process computed on the job's GPU, or its clocks were held down by power
                   or heat (NVIDIA's throttle reasons)

A contaminated job stays in the tables, marked; verdicts leave it out unless --keep-contaminated; it
is re-run (--rerun-contaminated N, default 1) once the machine is quiet again.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from runners import noise as probe
from schemas.report import RunReport

OUTSIDE_SHARE = 0.10
STEAL_SHARE = 0.05
THROTTLE_SHARE = 0.05
SPREAD_LIMIT = 2.0  # a quiet 2-vCPU VM showed TensorFlow epochs up to 1.52x their median
MIN_SPREAD_EPOCHS = 3
MIN_SPREAD_SECONDS = 0.2  # shorter epochs are dominated by timer and scheduler jitter
MIN_WINDOW_SECONDS = 1.0
GPU_THROTTLES = frozenset(
    {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
)
QUIET_WINDOW_SECONDS = 1.0
QUIET_WINDOWS = 2  # consecutive quiet windows before the machine counts as quiet


@dataclass(frozen=True)
class NoiseVerdict:
    measured: bool  # False: a report without evidence (older schema, or no /proc/stat)
    reasons: tuple[str, ...]  # empty: clean

    @property
    def contaminated(self) -> bool:
        return bool(self.reasons)

    @property
    def text(self) -> str:
        if not self.measured:
            return "not measured"
        return "; ".join(self.reasons) if self.reasons else "quiet"


def judge_noise(report: RunReport) -> NoiseVerdict:
    """Contaminated or not, with the evidence in words; only ok reports are judged."""
    noise = report.noise
    if report.status != "ok" or noise is None or not noise.readable:
        return NoiseVerdict(False, ())
    reasons = []
    capacity = float(noise.cpu_count)
    timed_seconds = sum(e.train_seconds for e in report.epochs)
    windows = ((noise.outside_cores, noise.seconds, "during the job"),
               (noise.timed_outside_cores, timed_seconds, "while timed"))  # fmt: skip
    for cores, seconds, where in windows:
        if cores is not None and seconds >= MIN_WINDOW_SECONDS and cores / capacity > OUTSIDE_SHARE:
            reasons.append(
                f"other processes used {cores:.2f} of {noise.cpu_count} CPUs {where} "
                f"({cores / capacity:.0%} > {OUTSIDE_SHARE:.0%})"
            )
            break
    if noise.seconds > 0:
        steal = noise.steal_seconds / (noise.seconds * capacity)
        if steal > STEAL_SHARE:
            reasons.append(f"the hypervisor stole {steal:.0%} of the CPU time (> {STEAL_SHARE:.0%})")
        throttled = noise.throttled_seconds / noise.seconds
        if throttled > THROTTLE_SHARE:
            reasons.append(
                f"CPU-throttled by its cgroup {throttled:.0%} of the time (> {THROTTLE_SHARE:.0%})"
            )
    spread = epoch_spread(report)
    if spread is not None and spread > SPREAD_LIMIT:
        reasons.append(f"steady epochs spread {spread:.2f}x (slowest / median > {SPREAD_LIMIT})")
    if noise.gpu_other_processes:
        reasons.append(f"{noise.gpu_other_processes} other process(es) computed on its GPU")
    throttles = sorted(GPU_THROTTLES & set(noise.gpu_throttle_reasons))
    if throttles:
        reasons.append(f"GPU clocks held down: {', '.join(throttles)}")
    return NoiseVerdict(True, tuple(reasons))


def epoch_spread(report: RunReport) -> float | None:
    """Slowest steady-state epoch over their median, where there are enough long epochs to tell."""
    steady = [e.train_seconds for e in report.epochs[1:]]
    if len(steady) < MIN_SPREAD_EPOCHS:
        return None
    median = statistics.median(steady)
    if median < MIN_SPREAD_SECONDS:
        return None
    return max(steady) / median


@dataclass(frozen=True)
class Quiet:
    quiet: bool
    waited: float  # seconds
    outside_cores: float  # in the last window


def machine_load(window: float = QUIET_WINDOW_SECONDS) -> float:
    """CPUs kept busy by processes other than this one over `window` seconds (nothing runs here)."""
    a = probe.sample()
    time.sleep(window)
    return probe.between(a, probe.sample()).outside_cores


def wait_until_quiet(max_wait: float, log: Callable[[str], None], what: str = "the first job") -> Quiet:
    """Before timing anything: wait (at most `max_wait` seconds) until other processes use less
    than OUTSIDE_SHARE of the CPUs for QUIET_WINDOWS windows in a row, saying so while it waits."""
    limit = OUTSIDE_SHARE * (os.cpu_count() or 1)
    start, in_a_row, said = time.monotonic(), 0, False
    load = machine_load()
    while True:
        in_a_row = in_a_row + 1 if load <= limit else 0
        waited = time.monotonic() - start
        if in_a_row >= QUIET_WINDOWS:
            if said:
                log(f"noise guard: the machine is quiet after {waited:.0f}s; starting {what}")
            return Quiet(True, waited, load)
        if waited >= max_wait:
            log(f"[yellow]noise guard[/]: the machine is still busy after {waited:.0f}s ({load:.2f} CPUs used "
                f"by other processes); starting {what} anyway: jobs timed now may be flagged contaminated")  # fmt: skip
            return Quiet(False, waited, load)
        if not said and load > limit:
            log(f"noise guard: other processes use {load:.2f} of {os.cpu_count()} CPUs; waiting up to "
                f"{max_wait:.0f}s for the machine to be quiet before {what} (bench check says why)")  # fmt: skip
            said = True
        load = machine_load()
