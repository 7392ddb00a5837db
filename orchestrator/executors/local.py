"""The local executor: jobs on this machine, each through the chosen backend, placed on GPU slots.

CPU runs: one job at a time, on purpose: two jobs sharing a machine's cores time each other's load,
not their framework (design: fairness rule 10). Each job is pinned to as many of the orchestrator's
CPUs as its intra-op threads (the same CPUs for every framework).

GPU runs (orchestrator/gpu_slots.py): one slot per GPU, each with its own equal share of CPUs near
its GPU (NUMA node) and "auto" threads = that share. Jobs rotate over the slots (framework and
repeat), so no framework always gets the same card. `--gpu-mode`:
    exclusive   one job on the machine at a time (the default: timings from an otherwise idle host)
    throughput  one job per GPU at a time, side by side (8x the work per hour on 8 GPUs; the shared
                host, PCIe and power budget are part of each number, so the report marks the mode
                and a run is never pooled with one of the other mode)
The placement (mode, slot, GPU UUID, CPUs) is recorded in each report, never in the spec id.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from orchestrator import plan as planning
from orchestrator.backends.base import Backend, JobPaths
from orchestrator.closing import Closeable
from orchestrator.collect import read_report, synthetic_report
from orchestrator.devices import DeviceError, offered_gpus, resolve_device
from orchestrator.executors.base import LoopResult
from orchestrator.gpu_slots import (
    GpuMode,
    Slot,
    SlotError,
    assign,
    describe_slots,
    make_slots,
    numa_cpus,
    schedule,
)
from orchestrator.jobs import (
    History,
    JobPolicy,
    advance,
    archive,
    attempt_once,
    label,
    line,
    next_run,
    progress_bar,
    record_interrupt,
    reusable,
)
from orchestrator.noise import wait_until_quiet
from orchestrator.rundir import RunDir
from schemas.job import Device, JobSpec
from schemas.report import Placement, RunReport


def allowed_cpus() -> set[int]:
    return set(planning.cpus_here())


class LocalExecutor(Closeable):
    name = "local"

    def __init__(self, gpu_mode: GpuMode = "exclusive"):
        self.gpu_mode: GpuMode = gpu_mode
        self.slots: list[Slot] = []

    def device(self, gpus: str) -> tuple[Device, str]:
        self.slots = []
        device, note = resolve_device(gpus)
        if device.kind == "gpu":
            chosen = [g for g in offered_gpus() if g.index in device.gpu_ids]
            if not chosen:
                raise DeviceError(f"--gpus {gpus}: nvidia-smi could not describe GPU(s) {device.gpu_ids}")
            try:
                self.slots = make_slots(chosen, allowed_cpus(), numa_cpus)
            except SlotError as exc:
                raise DeviceError(f"--gpus {gpus}: {exc}") from None
        return device, note

    def cores_per_job(self) -> int | None:
        """What "auto" threads mean: a slot's CPUs on a GPU run, else this process's CPUs."""
        return len(self.slots[0].cpus) if self.slots else None

    def describe(self) -> dict[str, object]:
        return {"gpu_mode": self.gpu_mode if self.slots else None, "slots": describe_slots(self.slots)}

    def placements(self, specs: list[JobSpec], backend: str) -> list[Placement]:
        """Each job's slot (rotated over frameworks and repeats) or, on the CPU, its pinned CPUs."""
        if not self.slots:
            cpus = sorted(allowed_cpus())
            return [Placement(backend=backend, cpus=tuple(cpus[: s.threads.intra_op])) for s in specs]
        frameworks = list(dict.fromkeys(s.framework for s in specs))
        slot_of = assign([(s.framework, s.repeat) for s in specs], len(self.slots), frameworks)
        return [
            Placement(
                backend=backend,
                mode=self.gpu_mode,
                slot=k,
                gpus=(self.slots[k].gpu.uuid,),
                cpus=self.slots[k].cpus,
            )  # fmt: skip
            for k in slot_of
        ]

    def run_jobs(
        self, run: RunDir, specs: list[JobSpec], backend: Backend, console: Console, policy: JobPolicy
    ) -> LoopResult:
        result = LoopResult()
        if policy.quiet_wait > 0 and specs:
            quiet = wait_until_quiet(policy.quiet_wait, console.print)
            result.quiet_before = {"quiet": quiet.quiet, "waited_seconds": round(quiet.waited, 1),
                                   "outside_cores": round(quiet.outside_cores, 3)}  # fmt: skip
        placed = list(zip(specs, self.placements(specs, backend.name), strict=True))
        if self.slots:
            slot_of = [p.slot or 0 for _, p in placed]
            lanes = [[placed[i] for i in lane] for lane in schedule(slot_of, len(self.slots), self.gpu_mode)]
        else:
            lanes = [placed]
        lanes = [lane for lane in lanes if lane]
        with progress_bar(console) as progress:
            state = _Lanes(
                run, backend, progress, policy, result, progress.add_task("all jobs", total=len(specs))
            )
            if len(lanes) <= 1:
                try:
                    state.run_lane(lanes[0] if lanes else [])
                except KeyboardInterrupt:
                    state.interrupted(specs)
            else:
                state.side_by_side(lanes, specs)
        return result


@dataclass
class _Lanes:
    """Runs lanes of placed jobs (one after another within a lane, lanes side by side)."""

    run: RunDir
    backend: Backend
    progress: Progress
    policy: JobPolicy
    result: LoopResult
    overall: TaskID
    stop: threading.Event = field(default_factory=threading.Event)
    started: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    error: BaseException | None = None  # what ended a lane thread, re-raised in the main thread

    def run_lane_guarded(self, lane: list[tuple[JobSpec, Placement]]) -> None:
        """A lane thread's body: whatever ends it early (a backend error, a full disk) stops the other
        lanes and reaches the main thread, instead of dying silently with the lane's jobs."""
        try:
            self.run_lane(lane)
        except BaseException as exc:
            with self.lock:
                self.error = self.error or exc
            self.stop.set()
            self.backend.cancel()

    def run_lane(self, lane: list[tuple[JobSpec, Placement]]) -> None:
        for spec, placement in lane:
            if self.stop.is_set():
                return
            paths = self.run.paths(spec)
            if reusable(read_report(paths.report)[0], self.backend.environment_id(spec.runner_env)):
                with self.lock:
                    self.result.kept += 1
                    self.finished.add(spec.spec_id)
                self.progress.advance(self.overall)
                continue
            with self.lock:
                self.started.add(spec.spec_id)
            epochs = self.progress.add_task(f"  {label(spec)}", total=spec.workload.epochs)
            report = _attempts(
                spec, paths, placement, self.backend, self.progress, epochs, self.policy, self.stop
            )
            self.progress.remove_task(epochs)
            self.progress.advance(self.overall)
            self.progress.console.print(line(spec, report, paths.log))
            with self.lock:
                self.finished.add(spec.spec_id)
                if report.status != "ok":
                    self.result.failed.append((spec, report))

    def side_by_side(self, lanes: list[list[tuple[JobSpec, Placement]]], specs: list[JobSpec]) -> None:
        """One thread per lane. Ctrl-C reaches only this (the main) thread: it stops the lanes from
        starting more jobs and has the backend kill the running ones."""
        threads = [
            threading.Thread(target=self.run_lane_guarded, args=(lane,), daemon=True) for lane in lanes
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()
            self.backend.cancel()
            for thread in threads:
                thread.join(60)
            self.interrupted(specs)
            return
        if self.error is not None:
            self.interrupted(specs)
            raise self.error

    def interrupted(self, specs: list[JobSpec]) -> None:
        self.result.interrupted = True
        running = [s for s in specs if s.spec_id in self.started and s.spec_id not in self.finished]
        later = [s for s in specs if s.spec_id not in self.started and s.spec_id not in self.finished]
        record_interrupt(self.run, running, later)


def _attempts(
    spec: JobSpec,
    paths: JobPaths,
    placement: Placement,
    backend: Backend,
    progress: Progress,
    task_id: TaskID,
    policy: JobPolicy,
    stop: threading.Event,
) -> RunReport:
    history = History()
    archive(paths)
    while not stop.is_set():  # checked before every launch: Ctrl-C in another thread stops here
        progress.update(task_id, completed=0)

        def on_event(event: dict) -> None:  # type: ignore[type-arg]
            progress.update(task_id, completed=event.get("epoch", 0))

        report = attempt_once(spec, paths, backend, on_event, placement, history.attempt, history.why)
        why = next_run(report, history, policy)
        if why is None or stop.is_set():
            return report
        progress.console.print(f"[yellow]{escape(why)}[/] {label(spec)}: attempt {history.attempt + 1}")
        archive(paths)
        advance(history, why)
        if why.startswith("re-run") and placement.mode == "exclusive":
            wait_until_quiet(policy.quiet_wait, progress.console.print, "the re-run")
        else:  # side by side, the machine is never quiet: the re-run watches its own CPUs only
            time.sleep(0.5)
    # Stopped before (another) attempt: the job still leaves a report saying why.
    return read_report(paths.report)[0] or synthetic_report(
        spec, "skipped", "not started: run interrupted (Ctrl-C)", paths.report
    )
