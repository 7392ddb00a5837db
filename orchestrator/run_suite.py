"""Run a suite end to end: the one code path behind `bench orchestrate` and `bench.run()`.

    RunOptions   every setting of a run, typed; `checked()` validates it as the CLI's options are
    run_suite    plan (or resume) -> executor -> backend -> execute; returns a RunOutcome, raises
                 BenchError (orchestrator/errors.py) for bad input or a failing machine

Neither exits nor reads the command line, a terminal or stdin: the typer command and the Python
API both call `run_suite` and decide for themselves what an outcome means to their user.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from orchestrator import plan as planning
from orchestrator.backends import select_backend
from orchestrator.backends.docker import DockerBackendError
from orchestrator.cuda_stack import DriverError, check_driver, driver_version, same_major
from orchestrator.devices import DeviceError, variant_for
from orchestrator.errors import BenchError
from orchestrator.execute import RunRequest, execute
from orchestrator.executors import ExecutorError, select_executor
from orchestrator.jobs import JobPolicy
from orchestrator.rundir import RunDir, RunDirError
from schemas.common import ROOT


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


# Bounds of the numeric options, (low, high) with None for "no bound": the typer options and
# RunOptions.checked() both read them, so the CLI and the API refuse the same values.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "max_repeats": (5, 1000),
    "epochs_override": (1, None),
    "retries": (0, 10),
    "rerun_contaminated": (0, 10),
    "quiet_wait": (0, 3600),
}
CHOICES: dict[str, type[StrEnum]] = {
    "backend": BackendChoice,
    "gpu_mode": GpuModeChoice,
    "executor": ExecutorChoice,
}
# Options a caller may set through the environment (tests, CI, a notebook's kernel): the typer
# options name them as `envvar`, and `environment_defaults` reads them for the API.
ENV_VARS = {
    "backend": "BENCH_BACKEND",
    "rerun_contaminated": "BENCH_RERUN_CONTAMINATED",
    "quiet_wait": "BENCH_QUIET_WAIT",
}
SUITES_DIR = ROOT / "suites"


@dataclass(frozen=True)
class RunOptions:
    """Every setting of one `bench orchestrate` run; field = the CLI option of the same name.

    Example:
        >>> RunOptions(suite=Path("tests/suites/fake.toml"), repeats=1, quick=True).checked().repeats
        1
    """

    suite: Path = planning.DEFAULT_SUITE  # a TOML file, or the name of one in suites/ ("paper")
    frameworks: tuple[str, ...] | None = None
    tasks: tuple[str, ...] | None = None
    compile: tuple[str, ...] | None = None  # replaces the suite's compile modes ("none", "jit")
    tier: tuple[str, ...] | None = None  # replaces the suite's tiers ("matched", "tuned")
    repeats: int | str | None = None  # a whole number, or "auto"
    max_repeats: int | None = None
    epochs_override: int | None = None
    backend: str = BackendChoice.auto
    gpus: str = "all"
    gpu_mode: str | None = None  # None: a resumed run's stored mode, else exclusive
    out: Path | None = None  # None: results/SUITE[-quick]-TIMESTAMP under the current directory
    quick: bool = False
    resume: Path | None = None
    retries: int = 0
    rerun_contaminated: int = 1
    keep_contaminated: bool = False
    quiet_wait: float = 60.0
    executor: str = ExecutorChoice.local
    ray_address: str | None = None
    command: str = "bench orchestrate"  # recorded in run.json: how this run was asked for

    def checked(self) -> RunOptions:
        """These options with paths made Paths, or BenchError (exit 2) naming the first bad option,
        in the CLI's words (`--retries`), so a notebook's error reads like the command line's."""
        for name, kind in CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in {c.value for c in kind}:
                allowed = ", ".join(c.value for c in kind)
                raise BenchError(f"invalid value for {_flag(name)}: {value!r}; one of {allowed}", 2)
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            integral = name != "quiet_wait"
            if isinstance(value, bool) or not isinstance(value, (int,) if integral else (int, float)):
                kind_name = "a whole number" if integral else "a number"
                raise BenchError(f"invalid value for {_flag(name)}: {value!r} is not {kind_name}", 2)
            if math.isnan(value) or (low is not None and value < low) or (high is not None and value > high):
                bounds = f"{low:g}<=x" + (f"<={high:g}" if high is not None else "")
                raise BenchError(
                    f"invalid value for {_flag(name)}: {value!r} is not in the range {bounds}", 2
                )
        return replace(
            self,
            suite=Path(self.suite),
            out=None if self.out is None else Path(self.out),
            resume=None if self.resume is None else Path(self.resume),
        )


@dataclass(frozen=True)
class RunOutcome:
    """What a run that got going ended with: `exit_code` 0 every job ok, 1 some job did not end ok
    (each named on the console), 130 interrupted (finish with `resume`); `run_dir` holds it all."""

    exit_code: int
    run_dir: Path


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def environment_defaults() -> dict[str, object]:
    """The options set through ENV_VARS, parsed: what `bench orchestrate` would take from them.
    A value that is not a number where one is needed is a BenchError (exit 2) naming the variable."""
    found: dict[str, object] = {}
    for name, var in ENV_VARS.items():
        raw = os.environ.get(var)
        if raw is None or raw == "":
            continue
        if name in LIMITS:
            try:
                found[name] = float(raw) if name == "quiet_wait" else int(raw)
            except ValueError:
                raise BenchError(f"invalid value for {var}: {raw!r} is not a number", 2) from None
        else:
            found[name] = raw
    return found


def suite_file(suite: Path) -> Path:
    """`suite` itself, or for a bare name that is no file here ("paper") the suite of that name in
    suites/; a missing file stays as given, so the error names what the user typed."""
    shipped = SUITES_DIR / f"{suite.name}.toml"
    if not suite.exists() and suite == Path(suite.name) and not suite.suffix and shipped.is_file():
        return shipped
    return suite


def _gpu_mode(target: Path, asked: str | None) -> str:
    """The run's mode: as asked, else the stored one of a run being resumed, else exclusive. A run
    directory holds one mode only: its timings are never pooled across modes."""
    meta = target / "run.json"
    stored = RunDir.open(target).meta().get("gpu_mode") if meta.exists() else None
    if asked is not None and stored and asked != stored:
        raise RunDirError(
            f"{target} ran with --gpu-mode {stored}; finish it with the same mode or use a new --out"
        )
    return asked if asked is not None else str(stored or GpuModeChoice.exclusive)


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


def run_suite(options: RunOptions, console: Console) -> RunOutcome:
    """Plan the suite (or reopen `options.resume`), run every job isolated, render the results.

    Example:
        >>> outcome = run_suite(RunOptions(suite=Path("tests/suites/fake.toml")), Console())
        >>> outcome.exit_code, (outcome.run_dir / "report.html").exists()
        (0, True)
    """
    options = options.checked()
    try:
        return _run(options, console)
    except (
        planning.PlanError,
        RunDirError,
        DockerBackendError,
        ExecutorError,
        DeviceError,
        DriverError,
    ) as exc:
        raise BenchError(str(exc), 2) from None
    except OSError as exc:  # full disk, vanished directory: one line, finished reports stay
        where = exc.filename or "the run directory"
        raise BenchError(f"{exc.strerror or exc}: {where}; fix it, then finish with --resume", 1) from None


def _run(options: RunOptions, console: Console) -> RunOutcome:
    if options.resume is not None:
        resume = options.resume
        chosen, suite_path, target = RunDir.open(resume).stored_suite(), resume / "suite.toml", resume
    else:
        suite_path = suite_file(options.suite)
        chosen = planning.apply_options(
            planning.load_suite(suite_path),
            options.frameworks,
            options.tasks,
            planning.parse_repeats(options.repeats) if isinstance(options.repeats, str) else options.repeats,
            options.epochs_override,
            options.quick,
            options.max_repeats,
            options.compile,
            options.tier,
        )
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = options.out or Path("results") / f"{chosen.name}{'-quick' if options.quick else ''}-{stamp}"
    mode = _gpu_mode(target, options.gpu_mode)
    with select_executor(options.executor, console.print, options.ray_address, mode) as runs_jobs:
        device, note = runs_jobs.device(options.gpus)
        if note:
            console.print(note)
        # Chosen before the run directory exists: a docker backend that cannot run here fails
        # in one line before anything is written.
        fws = list(chosen.frameworks)
        with select_backend(
            options.backend,
            fws,
            console.print,
            variant_for(device),
            device.kind == "gpu",
            bool(chosen.versions),
        ) as isolates:
            # With Ray the jobs run on the workers, whose drivers this host cannot see.
            local_gpus = device.kind == "gpu" and options.executor == ExecutorChoice.local
            cuda_note = _check_cuda(isolates.cuda_majors(fws), console) if local_gpus else None
            request = RunRequest(
                suite_path, chosen, target, device, options.command, runs_jobs.cores_per_job(), cuda_note
            )
            code = execute(
                request,
                runs_jobs,
                isolates,
                console,
                resume=options.resume is not None,
                policy=JobPolicy(options.retries, options.rerun_contaminated, options.quiet_wait),
                keep_contaminated=options.keep_contaminated,
            )
    return RunOutcome(code, target)
