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

from orchestrator import plan as planning
from orchestrator.backends.venv import VenvBackend
from orchestrator.execute import RunRequest, execute
from orchestrator.rundir import RunDirError


class BackendChoice(StrEnum):
    # auto picks the docker backend once it exists and an engine answers; until then, venv.
    auto = "auto"
    venv = "venv"


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def orchestrate(
    suite: Annotated[Path, typer.Option(help="suite file (TOML)")] = planning.DEFAULT_SUITE,
    frameworks: Annotated[str | None, typer.Option(help="comma list, e.g. tensorflow,pytorch")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma list of the suite's task names")] = None,
    repeats: Annotated[
        int | None, typer.Option(min=1, help="repeats per framework and task (>= 5 for a winner)")
    ] = None,
    epochs_override: Annotated[int | None, typer.Option(min=1, help="epochs for every task")] = None,
    backend: Annotated[
        BackendChoice, typer.Option(help="isolation; venv: each runner in its framework's own virtualenv (auto = venv: no docker backend yet)")
    ] = BackendChoice.auto,
    gpus: Annotated[
        str, typer.Option(help="all | none | comma list of GPU ids; all = CPU when none is visible")
    ] = "all",
    out: Annotated[Path | None, typer.Option(help="run directory (default results/SUITE-TIMESTAMP)")] = None,
    quick: Annotated[bool, typer.Option(help="small and fast (mnist-5k, <= 5 epochs), same outputs")] = False,
) -> None:
    """Run a suite (default: the paper's experiment) in isolated runners and write tables, plots,
    the winner table and report.html into the run directory.

    Example: bench orchestrate --quick --out results/try1
    """
    console = Console()
    try:
        chosen = planning.apply_options(
            planning.load_suite(suite), _split(frameworks), _split(tasks), repeats, epochs_override, quick
        )
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = out or Path("results") / f"{chosen.name}{'-quick' if quick else ''}-{stamp}"
        request = RunRequest(suite, chosen, target, gpus, shlex.join(["bench", *sys.argv[1:]]))
        code = execute(request, VenvBackend(log=console.print), console)
    except (planning.PlanError, RunDirError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    raise typer.Exit(code)
