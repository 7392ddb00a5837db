"""Run a planned suite: prepare data once, run each job through the executor and the backend,
collect, render. Knows no particular executor or backend: both arrive chosen and resolved."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from orchestrator import auto_repeats, calibration, history, machine
from orchestrator import plan as planning
from orchestrator.backends.base import Backend
from orchestrator.collect import read_report, synthetic_report
from orchestrator.executors.base import Executor, LoopResult
from orchestrator.jobs import JobPolicy, label
from orchestrator.results import recorded_margin, render_run
from orchestrator.rundir import RunDir, RunDirError, machine_label, now_iso
from runners import datasets, fairness
from schemas.job import Device, JobSpec
from schemas.suite import Suite

DEFAULT_POLICY = JobPolicy()


@dataclass(frozen=True)
class RunRequest:
    suite_path: Path
    suite: Suite  # after command-line options, validated: planning it cannot fail
    out: Path
    device: Device  # resolved once, by the executor
    command: str
    cores: int | None = None  # CPUs each job gets ("auto" threads), from the executor
    cuda_note: str | None = None  # the frameworks' CUDA builds differ in major: said beside verdicts


def prepare_init(specs: list[JobSpec], data_dir: Path) -> None:
    """Initial weights and batch orders, once per (network, data size, seed), for every runner."""
    sizes: dict[tuple[str, int | None], int] = {}
    for spec in specs:
        w = spec.workload
        key = (w.dataset, w.max_train_samples)
        if key not in sizes:
            n_all = len(datasets.load(data_dir / f"{w.dataset}.npz").y_train)
            sizes[key] = min(n_all, w.max_train_samples or n_all)
        n_features = w.info.n_features
        path = fairness.init_path(data_dir, w, n_features, sizes[key], spec.seed)
        if not path.exists():
            try:
                fairness.write_init(path, w, n_features, sizes[key], spec.seed)
            except MemoryError:
                pass  # too big to prepare here: the runner tries itself and reports `oom` if it must


def _new_run(
    request: RunRequest, backend: Backend, executor: Executor, log: Callable[[str], None]
) -> tuple[RunDir, list[JobSpec]]:
    """Create the run directory, choose and prepare datasets once, plan and write every spec. If
    anything fails (no dataset available, a full disk, Ctrl-C) before the plan is stored, the
    directory is removed again: a run directory either holds a resumable plan or does not exist."""
    existed = request.out.exists()
    run = RunDir.create(request.out)
    try:
        return run, _plan_into(run, request, backend, executor, log)
    except BaseException:
        run.discard(created_root=not existed)
        raise


def _plan_into(
    run: RunDir, request: RunRequest, backend: Backend, executor: Executor, log: Callable[[str], None]
) -> list[JobSpec]:
    suite = request.suite
    run.update_meta(name=run.root.name, created_at=now_iso(), state="preparing", backend=backend.name,
                    executor=executor.name, machine=machine_label(), command=request.command, suite=suite.name)  # fmt: skip
    run.write_suite(request.suite_path, suite)
    log(f"run directory: {run.root}")
    _record_machine(run, log)
    choices = planning.choose_datasets(suite, lambda name: datasets.prepare(name, run.data_dir))
    _say_datasets(choices, log)
    specs = planning.plan(suite, choices, request.device, cores=request.cores)
    for spec in specs:
        run.write_spec(spec)
    prepare_init(specs, run.data_dir)
    run.update_meta(datasets={t: {"used": c.used, "reason": c.reason} for t, c in choices.items()},
                    device=request.device.model_dump(mode="json"), jobs=len(specs), plan=[s.spec_id for s in specs])  # fmt: skip
    return specs


def _record_machine(run: RunDir, log: Callable[[str], None]) -> None:
    """What `bench check` finds, and this machine's calibration (its A/A floor sets the verdicts'
    margin), into run.json: a report is read long after the machine it ran on is gone."""
    findings = machine.machine_findings(sample_seconds=0.25)
    for finding in findings:
        if finding.status == "warn":
            log(
                f"[yellow]bench check[/]: {escape(finding.name)}: {escape(finding.value)} ({escape(finding.advice)})"
            )
    stored = calibration.load_calibration(warn=log)
    summary = None
    if stored is not None:
        # the largest size measured: the closest to a training step's GEMMs (sorted, so it wins)
        best = {rate.framework: rate.gflops for rate in sorted(stored.gemm, key=lambda rate: rate.size)}
        summary = {"hardware": stored.hardware, "measured_at": stored.measured_at,
                   "aa_floor": stored.aa_floor, "gemm_gflops": best}  # fmt: skip
    run.update_meta(machine_check=[dataclasses.asdict(f) for f in findings], calibration=summary,
                    margin=calibration.margin(stored))  # fmt: skip


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
    request: RunRequest,
    executor: Executor,
    backend: Backend,
    console: Console,
    resume: bool = False,
    policy: JobPolicy = DEFAULT_POLICY,
    keep_contaminated: bool = False,
) -> int:
    """Plan (or reopen) the run, build the runner environments, run every job through the executor
    and the backend, render the results. Returns the exit code: 0 all ok, 1 a job failed or was
    skipped, 130 interrupted."""
    log = console.print
    if resume or (request.out / "run.json").exists():
        run, specs = _reopen(request, log)
        if not resume and run.stored_suite() != request.suite:
            raise RunDirError(
                f"{run.root} holds a run of a different suite or options; use a new --out, "
                f"or `bench orchestrate --resume {run.root}` to finish that run as planned"
            )
    else:
        run, specs = _new_run(request, backend, executor, log)
    placement = executor.describe()  # the mode was checked against a stored run's by the command
    mode_note = (f"GPU mode {placement['gpu_mode']}: jobs ran side by side, one per GPU"
                 if placement.get("gpu_mode") == "throughput" else None)  # fmt: skip
    run.update_meta(**placement, cuda_note=request.cuda_note, gpu_mode_note=mode_note)
    runners, runnable = _environments(run, specs, backend, log)
    backend.sweep_leftovers()
    run.update_meta(state="running", runners=runners, backend=backend.name, executor=executor.name,
                    keep_contaminated=keep_contaminated, policy=dataclasses.asdict(policy))  # fmt: skip
    start = time.monotonic()
    result = executor.run_jobs(run, runnable, backend, console, policy)
    if request.suite.repeats == "auto" and not result.interrupted:
        if len(runnable) == len(specs):
            specs = _repeat_until_decided(run, request, specs, executor, backend, console, policy, result)
            runnable = specs
        else:
            log("repeats auto: not adding repeats, some frameworks could not run")
    if result.quiet_before is not None:
        run.update_meta(quiet_before=result.quiet_before)
    not_run = [s for s in specs if s not in runnable]
    state = "interrupted" if result.interrupted else "complete"
    run.update_meta(state=state, finished_at=now_iso(), wall_seconds=round(time.monotonic() - start, 1))
    if result.kept:
        log(f"kept {result.kept} job(s) that had already finished ok in this environment")
    if result.interrupted:
        log("[bold red]interrupted[/]: the running job was killed; finished reports are kept in "
            f"{run.reports_dir}; finish with: bench orchestrate --resume {run.root}")  # fmt: skip
        _render(run, console)
        return 130
    _render(run, console)
    history.append_finished(run.root, console)
    for spec, report in result.failed:
        log(
            f"[red]failed[/]: {spec.spec_id} ({label(spec).strip()}): {report.status}; log {run.paths(spec).log}"
        )
    for spec in not_run:
        log(f"[red]skipped[/]: {spec.spec_id} ({label(spec).strip()}): its runner environment is unavailable")
    return 1 if result.failed or not_run else 0


def _repeat_until_decided(
    run: RunDir,
    request: RunRequest,
    specs: list[JobSpec],
    executor: Executor,
    backend: Backend,
    console: Console,
    policy: JobPolicy,
    result: LoopResult,
) -> list[JobSpec]:
    """--repeats auto: one more repeat of every framework at a time until every verdict is decided
    or the suite's max_repeats is reached; `result` gathers the new rounds' outcomes."""
    meta = run.meta()
    margin, keep = recorded_margin(meta), meta.get("keep_contaminated") is True
    while True:
        state = auto_repeats.Round(
            auto_repeats.planned_repeats(specs), auto_repeats.undecided(run, margin, keep)
        )
        if not state.undecided or state.repeats >= request.suite.most_repeats:
            run.update_meta(auto_repeats=auto_repeats.say_stop(state, request.suite, console.print))
            return specs
        # Side by side on N GPUs, one repeat of F frameworks would leave N - F GPUs idle: add enough.
        placed = executor.describe()
        slots = placed.get("slots")
        side_by_side = placed.get("gpu_mode") == "throughput" and isinstance(slots, list)
        count = max(1, len(slots) // max(1, len(request.suite.frameworks))) if side_by_side else 1  # type: ignore[arg-type]
        count = min(count, request.suite.most_repeats - state.repeats)
        which = (
            f"repeat {state.repeats + 1}"
            if count == 1
            else f"repeats {state.repeats + 1}-{state.repeats + count}"
        )
        console.print(f"repeats auto: {len(state.undecided)} verdict(s) undecided after {state.repeats} "
                      f"repeats; adding {which}")  # fmt: skip
        added = auto_repeats.next_round(run, request.suite, request.device, specs, request.cores, count)
        prepare_init(added, run.data_dir)
        specs = [*specs, *added]
        more = executor.run_jobs(run, added, backend, console, policy)
        result.failed += more.failed
        if more.interrupted:
            result.interrupted = True
            return specs


def _environments(
    run: RunDir, specs: list[JobSpec], backend: Backend, log: Callable[[str], None]
) -> tuple[dict[str, dict[str, str]], list[JobSpec]]:
    """Build (or verify) each runner environment: one per framework, one per version of a version
    matrix ('keras-jax@3.14.0'). One that cannot be built gets its jobs recorded as skipped, with the
    reason; the others still run."""
    runners: dict[str, dict[str, str]] = {}
    for name in sorted({s.runner_env for s in specs}):
        try:
            runners[name] = backend.describe(name)
        except (OSError, subprocess.CalledProcessError, RuntimeError, ValueError) as exc:
            reason = f"runner environment for {name} could not be built: {exc}"
            log(f"[red]skipping {name}[/]: {escape(reason)}")
            runners[name] = {"unavailable": reason}
            for spec in specs:
                paths = run.paths(spec)
                if spec.runner_env == name and read_report(paths.report)[0] is None:
                    synthetic_report(spec, "skipped", reason, paths.report)
    return runners, [s for s in specs if "unavailable" not in runners[s.runner_env]]


def _render(run: RunDir, console: Console) -> None:
    rendered = render_run(run.root)
    # The run's record keeps where its time went, as this orchestrator measured and rendered it;
    # `bench report` rewrites tables/wall_time.* (the current code's view) but never run.json.
    run.update_meta(wall_time=rendered.wall_json)
    console.print(rendered.summary)
    if rendered.wall_time:
        console.print(f"where the wall time went: {rendered.wall_time}")
    console.print(f"report: {rendered.report}")
