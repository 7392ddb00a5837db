"""One job's life, the same under every executor: launch an attempt, finalize its report, decide a
retry, keep every attempt, record what an interrupt stopped.

Nothing is overwritten: a report that is about to be replaced (a retry, or a resumed run re-running a
job that did not end ok) moves to reports/attempts/ID.N.json first, and each attempt's output is
appended to the same log under an `# attempt N` header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from orchestrator.backends.base import Backend, JobPaths
from orchestrator.collect import finalize, read_report, synthetic_report
from orchestrator.gpu_slots import format_cpulist
from orchestrator.noise import judge_noise
from orchestrator.rundir import RunDir
from schemas.job import JobSpec
from schemas.report import Placement, RunReport
from schemas.suite import Arm

RETRYABLE = frozenset({"crashed"})  # oom and diverged would only repeat; error is deterministic


def label(spec: JobSpec) -> str:
    """What a progress line calls a job: its arm (`pytorch+jit`, `keras-jax@3.14.0`), task, repeat."""
    return f"{Arm.of(spec).label:<10} {spec.workload.task:<14} repeat {spec.repeat}"


def line(spec: JobSpec, report: RunReport, log: Path) -> str:
    if report.status == "ok" and report.timing is not None and report.epochs:
        return (
            f"[green]ok[/] {label(spec)}  {report.timing.total_train_seconds:7.2f}s train"
            f"  val {report.metric} {report.epochs[-1].val_metric:.4f}"
        )
    msg = report.error.message if report.error else ""
    return f"[red]{report.status}[/] {label(spec)}  {escape(msg[:160])}  (log: {escape(str(log))})"


def reusable(report: RunReport | None, environment: str | None) -> bool:
    """A finished job is kept on resume only if it ended ok, exited 0, and ran in the same
    runner environment (requirements / image hash) that would run it now."""
    return (
        report is not None
        and report.status == "ok"
        and report.exit_code == 0
        and (environment is None or (report.env is not None and report.env.lock_hash == environment))
    )


def archive(paths: JobPaths) -> None:
    """Move an existing report aside (never overwrite one) before the job runs again."""
    if not paths.report.exists():
        return
    attempts = paths.report.parent / "attempts"
    attempts.mkdir(exist_ok=True)
    n = len(list(attempts.glob(f"{paths.report.stem}.*.json"))) + 1
    paths.report.rename(attempts / f"{paths.report.stem}.{n}.json")


def _log_header(paths: JobPaths, attempt: int, why: str, where: str = "") -> None:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open(paths.log, "a") as fh:
        fh.write(f"# attempt {attempt} ({why}) at {now}{' ' + where if where else ''}\n")


@dataclass(frozen=True)
class JobPolicy:
    """When a job runs again, the same under every executor."""

    retries: int = 0  # re-runs of a job that crashed (never oom, diverged or error: they would repeat)
    rerun_contaminated: int = 1  # re-runs of a job timed while the machine was busy (orchestrator/noise.py)
    quiet_wait: float = 60.0  # seconds to wait for a quiet machine before timing (first job, re-runs)


@dataclass
class History:
    """One job's attempts so far."""

    attempt: int = 1
    retried: int = 0
    reran: int = 0
    why: str = "first run"


def next_run(
    report: RunReport, history: History, policy: JobPolicy, retries: int | None = None
) -> str | None:
    """Why the job must run again ('retry after crash', 're-run: contaminated ...'), or None.
    `retries` overrides the policy's (Ray gives a job lost with its node one retry regardless)."""
    if report.status in RETRYABLE and history.retried < (policy.retries if retries is None else retries):
        return "retry after crash"
    verdict = judge_noise(report)
    if verdict.contaminated and history.reran < policy.rerun_contaminated:
        return f"re-run: contaminated ({verdict.text})"
    return None


def advance(history: History, why: str) -> None:
    history.attempt += 1
    history.why = why
    if why.startswith("retry"):
        history.retried += 1
    else:
        history.reran += 1


def attempt_once(
    spec: JobSpec,
    paths: JobPaths,
    backend: Backend,
    on_event: Callable[[dict], None],  # type: ignore[type-arg]
    placement: Placement,
    attempt: int,
    why: str = "first run",
    where: str = "",
) -> RunReport:
    """One attempt, wherever it runs (here, or inside a Ray task on the node Ray chose): log header,
    launch through the backend where `placement` says, finalize into the one trustworthy report."""
    _log_header(paths, attempt, why, where + _where(placement))
    outcome = backend.launch(spec, paths, on_event, placement)
    return finalize(spec, outcome, paths.report, paths.log, placement)


def _where(placement: Placement) -> str:
    gpus = f" GPU {','.join(placement.gpus)}" if placement.gpus else ""
    cpus = f" CPUs {format_cpulist(placement.cpus)}" if placement.cpus else ""
    slot = f"slot {placement.slot}" if placement.slot is not None else ""
    return f" [{placement.mode} {slot}{gpus}{cpus}]".replace("  ", " ") if gpus or cpus else ""


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def record_interrupt(run: RunDir, running: list[JobSpec], later: list[JobSpec]) -> None:
    """The running jobs were killed by the backend; they and every job not started get a report
    saying so, unless the runner had already written one."""
    for spec in running:
        paths = run.paths(spec)
        if read_report(paths.report)[0] is None:
            synthetic_report(
                spec, "crashed", "killed by the orchestrator: run interrupted (Ctrl-C)", paths.report
            )
    for spec in later:
        paths = run.paths(spec)
        if not paths.report.exists():
            synthetic_report(spec, "skipped", "not started: run interrupted (Ctrl-C)", paths.report)
