"""Run a planned suite: prepare data once, launch each job through the backend, collect, render."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from orchestrator import plan as planning
from orchestrator.backends.base import Backend
from orchestrator.collect import read_report, synthetic_report
from orchestrator.jobs import label, run_jobs
from orchestrator.results import render_run, summarize
from orchestrator.rundir import RunDir, RunDirError, machine_label, now_iso
from runners import datasets, fairness
from runners.harness import write_atomic
from schemas.datasets import CATALOG
from schemas.job import Device, JobSpec
from schemas.suite import Suite


@dataclass(frozen=True)
class RunRequest:
    suite_path: Path
    suite: Suite
    out: Path
    gpus: str  # "all" | "none" | "0,1"
    command: str
    executor: str = "local"  # local | ray (orchestrator.executors)
    device: Device | None = None  # decided by the executor (ray: the cluster's GPUs); None: resolve_device


def visible_gpus() -> list[int]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    # "GPU 0: NVIDIA H100 ... (UUID: GPU-...)": the index nvidia-smi and device requests use.
    return [int(line[4:].split(":", 1)[0]) for line in out.splitlines() if line.startswith("GPU ")]


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
    # Explicit ids are a promise: fail before any job, in one line, instead of N failed jobs.
    found = visible_gpus()
    if not found:
        why = "nvidia-smi lists none" if shutil.which("nvidia-smi") else "no nvidia-smi: no NVIDIA driver"
        raise planning.PlanError(f"--gpus {gpus}: no NVIDIA GPU on this host ({why}); use --gpus none")
    missing = [i for i in ids if i not in found]
    if missing:
        raise planning.PlanError(
            f"--gpus {gpus}: GPU {','.join(map(str, missing))} is not present (this host has "
            f"{','.join(map(str, found))})"
        )
    return Device(kind="gpu", gpu_ids=ids)


def prepare_init(specs: list[JobSpec], data_dir: Path) -> None:
    """Initial weights and batch orders, once per (network, data size, seed), for every runner."""
    sizes: dict[tuple[str, int | None], int] = {}
    for spec in specs:
        w = spec.workload
        key = (w.dataset, w.max_train_samples)
        if key not in sizes:
            n_all = len(datasets.load(data_dir / f"{w.dataset}.npz").y_train)
            sizes[key] = min(n_all, w.max_train_samples or n_all)
        n_features = CATALOG[w.dataset].n_features
        path = fairness.init_path(data_dir, w, n_features, sizes[key], spec.seed)
        if not path.exists():
            try:
                fairness.write_init(path, w, n_features, sizes[key], spec.seed)
            except MemoryError:
                pass  # too big to prepare here: the runner tries itself and reports `oom` if it must


def _new_run(
    request: RunRequest, backend: Backend, log: Callable[[str], None]
) -> tuple[RunDir, list[JobSpec]]:
    """Create the run directory, choose and prepare datasets once, plan and write every spec."""
    run = RunDir.create(request.out)
    suite = request.suite
    run.update_meta(name=run.root.name, created_at=now_iso(), state="preparing", backend=backend.name,
                    machine=machine_label(), command=request.command, suite=suite.name)  # fmt: skip
    shutil.copyfile(request.suite_path, run.root / "suite.toml")
    write_atomic(run.root / "suite.json", suite.model_dump_json(indent=2))
    log(f"run directory: {run.root}")
    device = request.device or resolve_device(request.gpus, log)
    choices = planning.choose_datasets(suite, lambda name: datasets.prepare(name, run.data_dir))
    _say_datasets(choices, log)
    specs = planning.plan(suite, choices, device)
    for spec in specs:
        run.write_spec(spec)
    prepare_init(specs, run.data_dir)
    run.update_meta(datasets={t: {"used": c.used, "reason": c.reason} for t, c in choices.items()},
                    device=device.model_dump(mode="json"), jobs=len(specs), plan=[s.spec_id for s in specs])  # fmt: skip
    return run, specs


def _say_datasets(choices: dict[str, planning.DatasetChoice], log: Callable[[str], None]) -> None:
    for task, choice in choices.items():
        style = "bold yellow" if choice.reason.startswith("fallback") else "bold"
        log(f"[{style}]{task}: dataset {choice.used}[/] ({escape(choice.reason)})")


def _reopen(request: RunRequest, log: Callable[[str], None]) -> tuple[RunDir, list[JobSpec]]:
    """Resume: the plan and specs stored in the run directory, datasets already prepared there."""
    run = RunDir.open(request.out)
    specs = run.planned_specs()
    log(f"resuming {run.root}: {len(specs)} planned jobs")
    choices = {t: planning.DatasetChoice(**c) for t, c in run.meta().get("datasets", {}).items()}
    _say_datasets(choices, log)
    for name in sorted({s.workload.dataset for s in specs}):
        datasets.prepare(name, run.data_dir)  # verifies the stored file; rebuilds it if damaged
    prepare_init(specs, run.data_dir)
    return run, specs


def execute(
    request: RunRequest, backend: Backend, console: Console, resume: bool = False, retries: int = 0
) -> int:
    log = console.print
    if resume or (request.out / "run.json").exists():
        run, specs = _reopen(request, log)
        if not resume:
            _check_same_plan(run, request, specs)
    else:
        run, specs = _new_run(request, backend, log)
    runners, runnable = _environments(run, specs, backend, log)
    run.update_meta(state="running", runners=runners, backend=backend.name, executor=request.executor)
    start = time.monotonic()
    if request.executor == "ray":
        from orchestrator.executors import ray_cluster

        result = ray_cluster.run_jobs(run, runnable, backend, console, retries)
    else:
        result = run_jobs(run, runnable, backend, console, retries)
    not_run = [s for s in specs if s not in runnable]
    state = "interrupted" if result.interrupted else "complete"
    run.update_meta(state=state, finished_at=now_iso(), wall_seconds=round(time.monotonic() - start, 1))
    if result.kept:
        log(f"kept {result.kept} job(s) that had already finished ok in this environment")
    if result.interrupted:
        log("[bold red]interrupted[/]: the running job was killed; finished reports are kept in "
            f"{run.root / 'reports'}; finish with: bench orchestrate --resume {run.root}")  # fmt: skip
        _render(run, console)
        return 130
    _render(run, console)
    for spec, report in result.failed:
        log(
            f"[red]failed[/]: {spec.spec_id} ({label(spec).strip()}): {report.status}; log {run.paths(spec).log}"
        )
    for spec in not_run:
        log(f"[red]skipped[/]: {spec.spec_id} ({label(spec).strip()}): its runner environment is unavailable")
    return 1 if result.failed or not_run else 0


def _environments(
    run: RunDir, specs: list[JobSpec], backend: Backend, log: Callable[[str], None]
) -> tuple[dict[str, dict[str, str]], list[JobSpec]]:
    """Build (or verify) each framework's runner environment. A framework whose environment cannot
    be built gets its jobs recorded as skipped, with the reason; the other frameworks still run."""
    runners: dict[str, dict[str, str]] = {}
    for fw in sorted({s.framework for s in specs}):
        try:
            runners[fw] = backend.describe(fw)
        except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
            reason = f"runner environment for {fw} could not be built: {exc}"
            log(f"[red]skipping {fw}[/]: {escape(reason)}")
            runners[fw] = {"unavailable": reason}
            for spec in specs:
                paths = run.paths(spec)
                if spec.framework == fw and read_report(paths.report)[0] is None:
                    synthetic_report(spec, "skipped", reason, paths.report)
    return runners, [s for s in specs if "unavailable" not in runners[s.framework]]


def _check_same_plan(run: RunDir, request: RunRequest, stored: list[JobSpec]) -> None:
    """Re-running into an existing run directory resumes it only if it asks for the same jobs."""
    stored_suite = (run.root / "suite.json").read_text() if (run.root / "suite.json").exists() else ""
    if stored_suite and Suite.model_validate_json(stored_suite) != request.suite:
        raise RunDirError(
            f"{run.root} holds a run of a different suite or options; use a new --out, "
            f"or `bench orchestrate --resume {run.root}` to finish that run as planned"
        )


def _render(run: RunDir, console: Console) -> None:
    paths = render_run(run.root)
    console.print(summarize(run.root))
    report = next((p for p in paths if p.name == "report.html"), run.root / "report.html")
    console.print(f"report: {report}")
