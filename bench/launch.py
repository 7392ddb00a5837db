"""`bench.run()`: `bench orchestrate` from Python, through the same `run_suite` the CLI calls."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from bench.console import notebook_console
from bench.results import Run
from orchestrator.errors import BenchError
from orchestrator.plan import DEFAULT_SUITE
from orchestrator.run_suite import RunOptions, environment_defaults, run_suite

PAPER_SUITE = DEFAULT_SUITE


def _names(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """A comma list ("tensorflow,pytorch", as on the command line) or a sequence of names."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(p.strip() for p in parts if p.strip()) or None


def run(
    suite: Path | str = PAPER_SUITE,
    *,
    frameworks: Sequence[str] | str | None = None,
    tasks: Sequence[str] | str | None = None,
    compile: Sequence[str] | str | None = None,
    tier: Sequence[str] | str | None = None,
    repeats: int | str | None = None,
    max_repeats: int | None = None,
    epochs_override: int | None = None,
    backend: str | None = None,
    gpus: str | None = None,
    gpu_mode: str | None = None,
    out: Path | str | None = None,
    quick: bool = False,
    resume: Path | str | None = None,
    retries: int | None = None,
    rerun_contaminated: int | None = None,
    keep_contaminated: bool = False,
    quiet_wait: float | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    console: Console | None = None,
) -> Run:
    """Run a suite as `bench orchestrate` does and return its results.

    `suite` is a TOML file or the name of one in suites/ ("paper", the default); every other
    argument is the CLI option of the same name (`epochs_override` = --epochs-override), and one
    left out (None) takes the CLI's default, including the environment variables the CLI reads
    (BENCH_BACKEND, BENCH_QUIET_WAIT, BENCH_RERUN_CONTAMINATED). Progress goes to `console`
    (default: `notebook_console()`).

    Returns the Run also when some job did not end ok (`run.ok` is then False; `run.metrics`
    says which and why). Raises BenchError, one line as the CLI prints it, for a bad suite, option
    or output directory (exit_code 2), a machine failure such as a full disk (1), or an
    interrupted run (130: finish it with `bench.run(resume=run_dir)`).

    Example:
        >>> run = bench.run("paper", quick=True, out="results/quick-try")
        >>> run.verdicts[["task", "criterion", "text"]]
    """
    given = {
        "frameworks": _names(frameworks),
        "tasks": _names(tasks),
        "compile": _names(compile),
        "tier": _names(tier),
        "repeats": repeats,
        "max_repeats": max_repeats,
        "epochs_override": epochs_override,
        "backend": backend,
        "gpus": gpus,
        "gpu_mode": gpu_mode,
        "out": out,
        "resume": resume,
        "retries": retries,
        "rerun_contaminated": rerun_contaminated,
        "quiet_wait": quiet_wait,
        "executor": executor,
        "ray_address": ray_address,
    }
    chosen = {name: value for name, value in given.items() if value is not None}
    call = ", ".join([repr(str(suite)), *(f"{k}={v!r}" for k, v in chosen.items())])
    options = RunOptions(
        **{**environment_defaults(), **chosen},  # type: ignore[arg-type]
        suite=Path(suite),
        quick=quick,
        keep_contaminated=keep_contaminated,
        command=f"bench.run({call}{', quick=True' if quick else ''})",
    )
    outcome = run_suite(options, console or notebook_console())
    if outcome.exit_code == 130:
        raise BenchError(
            f"interrupted: finished reports are kept in {outcome.run_dir}; "
            f"finish with bench.run(resume={str(outcome.run_dir)!r})",
            130,
        )
    return Run(outcome.run_dir)
