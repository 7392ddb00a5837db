"""Run a planned suite: prepare data once, launch each job through the backend, collect, render."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
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

from orchestrator import plan as planning
from orchestrator.backends.base import Backend
from orchestrator.collect import finalize
from orchestrator.results import render_run, summarize
from orchestrator.rundir import RunDir, machine_label, now_iso
from runners import datasets
from schemas.job import Device, JobSpec
from schemas.report import RunReport
from schemas.suite import Suite


@dataclass(frozen=True)
class RunRequest:
    suite_path: Path
    suite: Suite
    out: Path
    gpus: str  # "all" | "none" | "0,1"
    command: str


def visible_gpus() -> list[int]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [i for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def resolve_device(gpus: str, log: Callable[[str], None]) -> Device:
    if gpus == "none":
        return Device(kind="cpu")
    if gpus == "all":
        found = visible_gpus()
        if not found:
            log("--gpus all: no NVIDIA GPU visible (nvidia-smi), running on the CPU")
            return Device(kind="cpu")
        return Device(kind="gpu", gpu_ids=tuple(found))
    try:
        ids = tuple(int(x) for x in gpus.split(","))
    except ValueError:
        raise planning.PlanError(f"--gpus must be all, none or a list like 0,1; got {gpus!r}") from None
    return Device(kind="gpu", gpu_ids=ids)


def _job_label(spec: JobSpec) -> str:
    return f"{spec.framework:<10} {spec.workload.task:<14} repeat {spec.repeat}"


def _job_line(spec: JobSpec, report: RunReport, log: Path) -> str:
    if report.status == "ok":
        last = report.epochs[-1]
        return (
            f"[green]ok[/] {_job_label(spec)}  {report.timing.total_train_seconds:7.2f}s train"  # type: ignore[union-attr]
            f"  val {report.metric} {last.val_metric:.4f}"
        )
    msg = report.error.message if report.error else ""
    return f"[red]{report.status}[/] {_job_label(spec)}  {escape(msg[:160])}  (log: {escape(str(log))})"


def execute(request: RunRequest, backend: Backend, console: Console) -> int:
    log = console.print
    run = RunDir.create(request.out)
    suite = request.suite
    run.update_meta(
        name=run.root.name,
        created_at=now_iso(),
        state="preparing",
        backend=backend.name,
        machine=machine_label(),
        command=request.command,
        suite=suite.name,
    )
    shutil.copyfile(request.suite_path, run.root / "suite.toml")
    (run.root / "suite.json").write_text(suite.model_dump_json(indent=2))
    log(f"run directory: {run.root}")

    device = resolve_device(request.gpus, log)
    choices = planning.choose_datasets(suite, lambda name: datasets.prepare(name, run.data_dir))
    for task, choice in choices.items():
        style = "bold yellow" if choice.reason.startswith("fallback") else "bold"
        log(f"[{style}]{task}: dataset {choice.used}[/] ({escape(choice.reason)})")
    specs = planning.plan(suite, choices, device)
    for spec in specs:
        run.write_spec(spec)
    runners = {fw: backend.describe(fw) for fw in suite.frameworks}  # builds missing envs, loudly
    run.update_meta(
        state="running",
        datasets={t: {"used": c.used, "reason": c.reason} for t, c in choices.items()},
        runners=runners,
        device=device.model_dump(mode="json"),
        jobs=len(specs),
    )

    failed: list[tuple[JobSpec, RunReport]] = []
    start = time.monotonic()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress:
            overall = progress.add_task("all jobs", total=len(specs))
            for spec in specs:
                epochs = progress.add_task(f"  {_job_label(spec)}", total=spec.workload.epochs)
                paths = run.paths(spec)

                def on_event(event: dict, task_id=epochs) -> None:  # type: ignore[no-untyped-def]
                    progress.update(task_id, completed=event.get("epoch", 0))

                outcome = backend.launch(spec, paths, on_event, device.gpu_ids)
                report = finalize(spec, outcome, paths.report, paths.log)
                progress.remove_task(epochs)
                progress.advance(overall)
                progress.console.print(_job_line(spec, report, paths.log))
                if report.status != "ok":
                    failed.append((spec, report))
    except KeyboardInterrupt:
        run.update_meta(state="interrupted", finished_at=now_iso())
        log(
            "[bold red]interrupted[/]: the running job was killed; finished reports are kept in "
            f"{run.root / 'reports'}"
        )
        _render(run, console)
        return 130
    run.update_meta(state="complete", finished_at=now_iso(), wall_seconds=round(time.monotonic() - start, 1))
    _render(run, console)
    for spec, report in failed:
        log(
            f"[red]failed[/]: {spec.spec_id} ({_job_label(spec).strip()}): {report.status}; "
            f"log {run.paths(spec).log}"
        )
    return 1 if failed else 0


def _render(run: RunDir, console: Console) -> None:
    paths = render_run(run.root)
    console.print(summarize(run.root))
    report = next((p for p in paths if p.name == "report.html"), run.root / "report.html")
    console.print(f"report: {report}")


def stderr_console() -> Console:
    return Console(file=sys.stderr)
