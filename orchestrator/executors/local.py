"""The local executor: jobs one after another on this machine, each through the chosen backend.

One at a time on purpose: two jobs sharing a machine's cores time each other's load, not their
framework (design: fairness rule 10).
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from orchestrator.backends.base import Backend, JobPaths
from orchestrator.closing import Closeable
from orchestrator.collect import read_report
from orchestrator.devices import resolve_device
from orchestrator.executors.base import LoopResult
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
from schemas.report import RunReport


class LocalExecutor(Closeable):
    name = "local"

    def device(self, gpus: str) -> tuple[Device, str]:
        return resolve_device(gpus)

    def run_jobs(
        self, run: RunDir, specs: list[JobSpec], backend: Backend, console: Console, policy: JobPolicy
    ) -> LoopResult:
        result = LoopResult()
        pending = list(specs)
        if policy.quiet_wait > 0 and specs:
            quiet = wait_until_quiet(policy.quiet_wait, console.print)
            result.quiet_before = {"quiet": quiet.quiet, "waited_seconds": round(quiet.waited, 1),
                                   "outside_cores": round(quiet.outside_cores, 3)}  # fmt: skip
        with progress_bar(console) as progress:
            overall = progress.add_task("all jobs", total=len(specs))
            while pending:
                spec = pending[0]
                paths = run.paths(spec)
                if reusable(read_report(paths.report)[0], backend.environment_id(spec.framework)):
                    result.kept += 1
                    progress.advance(overall)
                    pending.pop(0)
                    continue
                epochs = progress.add_task(f"  {label(spec)}", total=spec.workload.epochs)
                try:
                    report = _attempts(spec, paths, backend, progress, epochs, policy)
                except KeyboardInterrupt:
                    result.interrupted = True
                    record_interrupt(run, pending[:1], pending[1:])
                    break
                progress.remove_task(epochs)
                progress.advance(overall)
                progress.console.print(line(spec, report, paths.log))
                if report.status != "ok":
                    result.failed.append((spec, report))
                pending.pop(0)
        return result


def _attempts(
    spec: JobSpec, paths: JobPaths, backend: Backend, progress: Progress, task_id: TaskID, policy: JobPolicy
) -> RunReport:
    history = History()
    archive(paths)
    while True:
        progress.update(task_id, completed=0)

        def on_event(event: dict) -> None:  # type: ignore[type-arg]
            progress.update(task_id, completed=event.get("epoch", 0))

        report = attempt_once(
            spec, paths, backend, on_event, spec.device.gpu_ids, history.attempt, history.why
        )
        why = next_run(report, history, policy)
        if why is None:
            return report
        progress.console.print(f"[yellow]{escape(why)}[/] {label(spec)}: attempt {history.attempt + 1}")
        archive(paths)
        advance(history, why)
        if why.startswith("re-run"):
            wait_until_quiet(policy.quiet_wait, progress.console.print, "the re-run")
        else:
            time.sleep(0.5)
