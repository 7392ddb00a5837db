"""`bench orchestrate`: plan a suite, run every job isolated, merge the results."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestrator import plan as planning
from orchestrator.errors import cli_errors
from orchestrator.run_suite import (
    ENV_VARS,
    LIMITS,
    BackendChoice,
    ExecutorChoice,
    GpuModeChoice,
    RunOptions,
    run_suite,
)


def _split(value: str | None) -> tuple[str, ...] | None:
    parts = tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()
    return parts or None


def orchestrate(
    suite: Annotated[
        Path, typer.Option(help="suite file (TOML), or the name of one in suites/ (paper)")
    ] = planning.DEFAULT_SUITE,
    frameworks: Annotated[str | None, typer.Option(help="comma list, e.g. tensorflow,pytorch")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma list of the suite's task names")] = None,
    compile: Annotated[
        str | None,
        typer.Option(
            "--compile",
            help="comma list of compile modes, replacing the suite's: none (each framework's standard "
            "execution), jit (XLA, torch.compile of the whole step); one arm per mode",
        ),
    ] = None,
    tier: Annotated[
        str | None,
        typer.Option(
            help="comma list of tuning tiers, replacing the suite's: matched (identical maths, standard "
            "execution), tuned (each framework's documented speed settings, same maths; docs/arms.md)"
        ),
    ] = None,
    repeats: Annotated[
        str | None,
        typer.Option(
            help="repeats per framework and task (>= 5 for a verdict), or auto: add repeats until every "
            "verdict is decided (up to --max-repeats)"
        ),
    ] = None,
    max_repeats: Annotated[
        int | None,
        typer.Option(
            min=LIMITS["max_repeats"][0],
            max=LIMITS["max_repeats"][1],
            help="with --repeats auto: the most repeats (default 20)",
        ),
    ] = None,
    epochs_override: Annotated[
        int | None,
        typer.Option(
            min=LIMITS["epochs_override"][0], max=LIMITS["epochs_override"][1], help="epochs for every task"
        ),
    ] = None,
    backend: Annotated[
        BackendChoice,
        typer.Option(
            envvar=ENV_VARS["backend"],
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
        int,
        typer.Option(
            min=LIMITS["retries"][0],
            max=LIMITS["retries"][1],
            help="re-run a job that crashed up to N times (never oom/diverged)",
        ),
    ] = 0,
    rerun_contaminated: Annotated[
        int,
        typer.Option(
            min=LIMITS["rerun_contaminated"][0],
            max=LIMITS["rerun_contaminated"][1],
            envvar=ENV_VARS["rerun_contaminated"],
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
            min=LIMITS["quiet_wait"][0],
            max=LIMITS["quiet_wait"][1],
            envvar=ENV_VARS["quiet_wait"],
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
    options = RunOptions(
        suite=suite,
        frameworks=_split(frameworks),
        tasks=_split(tasks),
        compile=_split(compile),
        tier=_split(tier),
        repeats=repeats,
        max_repeats=max_repeats,
        epochs_override=epochs_override,
        backend=backend.value,
        gpus=gpus,
        gpu_mode=None if gpu_mode is None else gpu_mode.value,
        out=out,
        quick=quick,
        resume=resume,
        retries=retries,
        rerun_contaminated=rerun_contaminated,
        keep_contaminated=keep_contaminated,
        quiet_wait=quiet_wait,
        executor=executor.value,
        ray_address=ray_address,
        command=shlex.join(["bench", *sys.argv[1:]]),
    )
    with cli_errors(console):
        outcome = run_suite(options, console)
    raise typer.Exit(outcome.exit_code)
