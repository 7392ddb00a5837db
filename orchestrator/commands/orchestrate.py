"""`bench orchestrate`: plan a suite, run every job isolated, merge the results."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator import plan as planning
from orchestrator.backends import select_backend
from orchestrator.backends.docker import DockerBackendError
from orchestrator.cuda_stack import DriverError, check_driver, driver_version, same_major
from orchestrator.devices import DeviceError, variant_for
from orchestrator.execute import RunRequest, execute
from orchestrator.executors import ExecutorError, select_executor
from orchestrator.jobs import JobPolicy
from orchestrator.rundir import RunDir, RunDirError


class BackendChoice(StrEnum):
    # auto: docker when an engine answers and every framework's image is current, else venv.
    auto = "auto"
    venv = "venv"
    docker = "docker"
    current = "current"  # no isolation: the frameworks installed in this Python environment


class GpuModeChoice(StrEnum):
    exclusive = "exclusive"  # one job on the machine at a time (timings)
    throughput = "throughput"  # one job per GPU at a time (marked in every report)


class ExecutorChoice(StrEnum):
    local = "local"  # this machine: one job at a time, or one per GPU (--gpu-mode throughput)
    ray = "ray"  # each job a Ray task on the cluster's nodes (docs/ray.md)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _gpu_mode(target: Path, asked: GpuModeChoice | None) -> str:
    """The run's mode: as asked, else the stored one of a run being resumed, else exclusive. A run
    directory holds one mode only: its timings are never pooled across modes."""
    meta = target / "run.json"
    stored = RunDir.open(target).meta().get("gpu_mode") if meta.exists() else None
    if asked is not None and stored and asked.value != stored:
        raise RunDirError(
            f"{target} ran with --gpu-mode {stored}; finish it with the same mode or use a new --out"
        )
    return asked.value if asked is not None else str(stored or "exclusive")


def _check_cuda(majors: dict[str, int | None], console: Console) -> str | None:
    """Before any GPU job: the driver must run every framework's CUDA build (one line naming the
    minimum otherwise), and frameworks on different CUDA majors are said out loud (and recorded,
    so the summary prints it beside the verdicts)."""
    check_driver(driver_version(), majors)
    note = same_major(majors)
    if note:
        note += ": GPU verdicts compare the CUDA stacks too"
        console.print(f"[yellow]{escape(note)}[/]")
    return note


def orchestrate(
    suite: Annotated[Path, typer.Option(help="suite file (TOML)")] = planning.DEFAULT_SUITE,
    frameworks: Annotated[str | None, typer.Option(help="comma list, e.g. tensorflow,pytorch")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma list of the suite's task names")] = None,
    repeats: Annotated[
        str | None,
        typer.Option(
            help="repeats per framework and task (>= 5 for a verdict), or auto: add repeats until every "
            "verdict is decided (up to --max-repeats)"
        ),
    ] = None,
    max_repeats: Annotated[
        int | None, typer.Option(min=5, max=1000, help="with --repeats auto: the most repeats (default 20)")
    ] = None,
    epochs_override: Annotated[int | None, typer.Option(min=1, help="epochs for every task")] = None,
    backend: Annotated[
        BackendChoice,
        typer.Option(
            envvar="BENCH_BACKEND",
            help="isolation; venv: each runner in its framework's own virtualenv; docker: each job in a "
            "hardened container of its framework's image (`bench images build`); auto: docker when an "
            "engine answers and the images are current, else venv; current: no isolation, the "
            "frameworks installed in this Python environment (Colab, a GPU image with them preinstalled)",
        ),
    ] = BackendChoice.auto,
    gpus: Annotated[
        str,
        typer.Option(
            help="all | none | comma list of GPU ids (nvidia-smi's); each job gets one GPU and its own "
            "CPUs near it; all = CPU when none is visible"
        ),
    ] = "all",
    gpu_mode: Annotated[
        GpuModeChoice | None,
        typer.Option(
            help="exclusive (default): one job on the machine at a time (timings); throughput: one job "
            "per GPU side by side, marked in every report; a resumed run keeps its mode"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="run directory (default results/SUITE-TIMESTAMP)")] = None,
    quick: Annotated[bool, typer.Option(help="small and fast (mnist-5k, <= 5 epochs), same outputs")] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="finish this run directory as planned: jobs that ended ok in the same env are kept"
        ),
    ] = None,
    retries: Annotated[
        int, typer.Option(min=0, max=10, help="re-run a job that crashed up to N times (never oom/diverged)")
    ] = 0,
    rerun_contaminated: Annotated[
        int,
        typer.Option(
            min=0,
            max=10,
            envvar="BENCH_RERUN_CONTAMINATED",
            help="re-run a job timed while the machine was busy (contaminated) up to N times, once the "
            "machine is quiet again (docs/noise.md)",
        ),
    ] = 1,
    keep_contaminated: Annotated[
        bool, typer.Option(help="let contaminated jobs count in the verdicts (they are always in the tables)")
    ] = False,
    quiet_wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=3600,
            envvar="BENCH_QUIET_WAIT",
            help="seconds to wait for a quiet machine before the first job and before a re-run (0: never wait)",
        ),
    ] = 60.0,
    executor: Annotated[
        ExecutorChoice,
        typer.Option(
            help="local: jobs on this machine (one at a time, or one per GPU with --gpu-mode throughput); "
            "ray: each job a Ray task on a cluster "
            "(pip install 'bench\\[ray]'; docs/ray.md)"
        ),
    ] = ExecutorChoice.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="with --executor ray: the cluster (HOST:PORT, or auto for the one `ray start` "
            "made here); default: RAY_ADDRESS, else a new Ray on this machine"
        ),
    ] = None,
) -> None:
    """Run a suite (default: the paper's experiment) in isolated runners and write tables, plots,
    the winner table and report.html into the run directory.

    Example: bench orchestrate --quick --out results/try1
    Resume after Ctrl-C: bench orchestrate --resume results/try1
    """
    console = Console()
    command = shlex.join(["bench", *sys.argv[1:]])
    try:
        if resume is not None:
            chosen, suite_path, target = RunDir.open(resume).stored_suite(), resume / "suite.toml", resume
        else:
            chosen = planning.apply_options(
                planning.load_suite(suite),
                _split(frameworks),
                _split(tasks),
                planning.parse_repeats(repeats),
                epochs_override,
                quick,
                max_repeats,
            )
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            suite_path, target = (
                suite,
                out or Path("results") / f"{chosen.name}{'-quick' if quick else ''}-{stamp}",
            )
        mode = _gpu_mode(target, gpu_mode)
        with select_executor(executor.value, console.print, ray_address, mode) as runs_jobs:
            device, note = runs_jobs.device(gpus)
            if note:
                console.print(note)
            # Chosen before the run directory exists: a docker backend that cannot run here fails
            # in one line before anything is written.
            fws = list(chosen.frameworks)
            with select_backend(
                backend.value, fws, console.print, variant_for(device), device.kind == "gpu"
            ) as isolates:
                # With Ray the jobs run on the workers, whose drivers this host cannot see.
                local_gpus = device.kind == "gpu" and executor == ExecutorChoice.local
                cuda_note = _check_cuda(isolates.cuda_majors(fws), console) if local_gpus else None
                request = RunRequest(
                    suite_path, chosen, target, device, command, runs_jobs.cores_per_job(), cuda_note
                )
                code = execute(
                    request,
                    runs_jobs,
                    isolates,
                    console,
                    resume=resume is not None,
                    policy=JobPolicy(retries, rerun_contaminated, quiet_wait),
                    keep_contaminated=keep_contaminated,
                )
    except (
        planning.PlanError,
        RunDirError,
        DockerBackendError,
        ExecutorError,
        DeviceError,
        DriverError,
    ) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:  # full disk, vanished directory: one line, finished reports stay
        where = exc.filename or "the run directory"
        console.print(f"[red]error:[/] {escape(str(exc.strerror or exc))}: {escape(str(where))}; "
                      "fix it, then finish with --resume", highlight=False)  # fmt: skip
        raise typer.Exit(1) from None
    raise typer.Exit(code)
