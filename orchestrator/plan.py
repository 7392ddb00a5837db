"""Suite file -> options applied -> datasets chosen -> interleaved JobSpecs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.common import ROOT
from schemas.data_file import DataFile
from schemas.datasets import DATA_TASK
from schemas.errors import describe
from schemas.job import MAX_THREADS, Device, JobSpec, Threads, Timeouts, TrainingSettings, Workload
from schemas.parse import ParseError, load_toml
from schemas.suite import Arm, Suite, SuiteTask

DEFAULT_SUITE = ROOT / "suites" / "paper.toml"

# --quick: the same outputs, small enough for a few minutes on 2 cores (5 repeats kept: the
# winner table needs them).
QUICK_CLASSIFICATION_DATASETS = ("mnist-5k",)
QUICK_MAX_EPOCHS = 5
QUICK_MAX_TRAIN_SAMPLES = 2000


M = TypeVar("M", bound=BaseModel)


class PlanError(ValueError):
    """A suite or option problem the user can fix; the message is one line."""


def load_suite(path: Path) -> Suite:
    """The suite in `path`, checked as far as planning goes: every task on every dataset it lists,
    the threads and the timeouts, so nothing found later can leave a half-made run directory."""
    try:
        raw = load_toml(path, "suite")
    except ParseError as exc:
        raise PlanError(str(exc)) from None
    source = f"invalid suite {path}"
    suite = _built(Suite, source, raw)
    if any(task.dataset is not None for task in suite.tasks):
        # Read now, before a run directory exists: a bad file stops the run with nothing written.
        tasks = [_with_facts(task, i, path.parent, source) for i, task in enumerate(suite.tasks)]
        suite = _built(Suite, source, {**_dump(suite), "tasks": tasks})
    _check_plannable(suite, source)
    return suite


def _with_facts(task: SuiteTask, i: int, base: Path, source: str) -> dict[str, Any]:
    """The task (as JSON) with its data file's paths made absolute (relative ones are relative to the
    suite) and its facts read from the file(s); facts written in the suite must match (a pin)."""
    from runners.datasets import DatasetError, user_data

    dumped = task.model_dump(mode="json")
    if task.dataset is None:
        return dumped
    given = task.dataset
    as_named = given.model_copy(update={role: str(base / p) for role, p in given.files.items()})
    try:
        _, _, facts = user_data.build(as_named, DATA_TASK[task.task])
    except DatasetError as exc:
        raise PlanError(str(exc)) from None
    if given.facts is not None and given.facts != facts:
        raise PlanError(
            f"{source}: tasks[{i}].dataset.facts: the suite pins {given.facts.model_dump(mode='json')} "
            f"but {given.display} now gives {facts.model_dump(mode='json')}; restore the file or remove the facts"
        )
    resolved = {role: str(Path(p).absolute()) for role, p in as_named.files.items()}
    dumped["dataset"] = {**given.model_dump(mode="json"), **resolved, "facts": facts.model_dump(mode="json")}
    return dumped


def apply_options(
    suite: Suite,
    frameworks: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    repeats: int | str | None = None,
    epochs: int | None = None,
    quick: bool = False,
    max_repeats: int | None = None,
    compile_modes: Sequence[str] | None = None,
    tiers: Sequence[str] | None = None,
) -> Suite:
    """Narrow or shrink a suite from command-line options; the result is what the run records.
    Each option is applied and checked on its own, so an error names the option that caused it."""
    # --compile / --tier replace the suite's axis; a baseline whose arm they remove falls back to
    # the default (the first arm left), as with --frameworks.
    for option, axis, values in (("--compile", "compile", compile_modes), ("--tier", "tier", tiers)):
        if values:
            kept = {arm.label for arm in suite.arms if getattr(arm, axis) in values}
            baseline = suite.baseline if suite.baseline in kept else None
            suite = _option(suite, option, **{axis: list(values)}, baseline=baseline)
    if tasks:
        names = [t.name for t in suite.tasks]
        unknown = sorted(set(tasks) - set(names))
        if unknown:
            raise PlanError(f"unknown task(s) {unknown}; this suite has {names}")
        suite = _option(suite, "--tasks", tasks=[t for t in _dump(suite)["tasks"] if t["name"] in tasks])
    if frameworks:
        # A baseline whose framework the option leaves out falls back to the default (the first
        # arm left): narrowing a run to some frameworks is not a mistake in the suite's baseline.
        kept = {arm.label for arm in suite.arms if arm.framework in frameworks}
        baseline = suite.baseline if suite.baseline in kept else None
        versions = {fw: listed for fw, listed in suite.versions.items() if fw in frameworks}
        suite = _option(
            suite, "--frameworks", frameworks=list(frameworks), baseline=baseline, versions=versions
        )
    if repeats is not None:
        suite = _option(suite, "--repeats", repeats=repeats)
    if max_repeats is not None:
        suite = _option(suite, "--max-repeats", max_repeats=max_repeats)
    if quick:
        suite = _option(suite, "--quick", tasks=[_quick(t) for t in _dump(suite)["tasks"]])
    if epochs is not None:
        suite = _option(
            suite, "--epochs-override", tasks=[{**t, "epochs": epochs} for t in _dump(suite)["tasks"]]
        )
    return suite


def parse_repeats(text: str | None) -> int | str | None:
    """--repeats: a whole number or 'auto'."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise PlanError(f"invalid option --repeats: must be 'auto' or a whole number, got {text!r}") from None


def _quick(task: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {"epochs": min(task["epochs"], QUICK_MAX_EPOCHS)}
    if DATA_TASK[task["task"]] == "classification" and task.get("dataset") is None:  # a user's own data stays
        changes |= {
            "datasets": list(QUICK_CLASSIFICATION_DATASETS),
            "max_train_samples": QUICK_MAX_TRAIN_SAMPLES,
        }
    return {**task, **changes}


def _dump(suite: Suite) -> dict[str, Any]:
    return suite.model_dump(mode="json")


def _option(suite: Suite, option: str, **changes: object) -> Suite:
    """model_copy(update=) skips validation; options must pass the same checks as the file. One
    error is enough: an option changes every task alike, so the others would repeat it."""
    source = f"invalid option {option}"
    changed = _built(Suite, source, {**_dump(suite), **changes}, limit=1)
    _check_plannable(changed, source)
    return changed


def _check_plannable(suite: Suite, source: str) -> None:
    """Build every job this suite could plan into, on each dataset a task lists. The schema already
    checks each rule (a suite that validated cannot fail here); this keeps `plan` unable to fail
    even where a rule is one day added to JobSpec and forgotten in Suite."""
    threads = resolve_threads(suite, source)
    for i, task in enumerate(suite.tasks):
        if task.dataset is not None and task.dataset.facts is None:
            raise PlanError(f"{source}: tasks[{i}].dataset: not read yet (plan.load_suite reads the file)")
        for dataset in task_datasets(task):
            where = f"{source}: tasks[{i}] on {dataset}"
            workload = _workload(task, dataset, where)
            for repeat in sorted({0, suite.most_repeats - 1}):  # the seeds run from first to last
                for arm in suite.arms:
                    _spec(suite, arm, workload, repeat, Device(), threads, where)


def task_datasets(task: SuiteTask) -> tuple[str, ...]:
    """The names a task may run on: its built-ins in order, or its own data set's one name."""
    if task.dataset is None:
        return task.datasets
    name = task.dataset.dataset_name()
    return () if name is None else (name,)


@dataclass(frozen=True)
class DatasetChoice:
    used: str
    reason: str


def choose_datasets(suite: Suite, prepare: Callable[[str], object]) -> dict[str, DatasetChoice]:
    """First dataset of each task's list that can be prepared here wins; the reason is recorded."""
    from runners.datasets import DatasetError

    choices: dict[str, DatasetChoice] = {}
    for task in suite.tasks:
        if task.dataset is not None:
            choices[task.name] = _own_data(task, task.dataset, prepare)
            continue
        skipped: list[str] = []
        for name in task.datasets:
            try:
                prepare(name)
            except DatasetError as exc:
                skipped.append(f"{name}: {exc}")
                continue
            reason = "first choice of the suite" if not skipped else "fallback; " + " | ".join(skipped)
            choices[task.name] = DatasetChoice(name, reason)
            break
        else:
            raise PlanError(f"task {task.name}: none of its datasets is available: {' | '.join(skipped)}")
    return choices


def _own_data(task: SuiteTask, data: DataFile, prepare: Callable[[str], object]) -> DatasetChoice:
    """A user's data set: prepared from its file like a built-in one; no fallback (it is the point)."""
    from runners.datasets import DatasetError, user_data

    (name,) = task_datasets(task)
    user_data.register(name, data)
    try:
        prepare(name)
    except DatasetError as exc:
        raise PlanError(f"task {task.name}: {exc}") from None
    sha256 = ", ".join(
        f"{file} sha256 {digest}" for file, digest in (data.facts.sha256 if data.facts else {}).items()
    )
    return DatasetChoice(name, f"your data file: {sha256}")


def cpus_here() -> frozenset[int]:
    """The CPUs this process may run on (its affinity, which containers and taskset narrow), not the
    machine's."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return frozenset(range(os.cpu_count() or 1))


def cores_here() -> int:
    return len(cpus_here())


def resolve_threads(suite: Suite, source: str = "suite", cores: int | None = None) -> Threads:
    """`cores`: what "auto" means for the run, the CPUs each job gets (a GPU slot's cores, or this
    process's); "auto" on a machine with more cores than a job may ask for: the most it may."""
    auto = min(cores or cores_here(), MAX_THREADS)
    intra = auto if suite.intra_op_threads == "auto" else suite.intra_op_threads
    return _built(Threads, f"{source}: threads", {"intra_op": intra, "inter_op": suite.inter_op_threads})


def plan(
    suite: Suite,
    datasets: dict[str, DatasetChoice],
    device: Device,
    repeats: range | None = None,
    cores: int | None = None,
) -> list[JobSpec]:
    """Repeat-major and arm-interleaved (A B C A B C ...: every framework x compile mode), so slow
    drift of the machine (heat, other load) spreads over all arms instead of landing on one. `repeats`: which (default:
    the suite's first ones); `cores`: the CPUs each job gets ("auto" threads). Only the device's
    kind goes into the specs: which GPU a job runs on is its placement, recorded in its report, so
    the same job has the same spec id on a host with one GPU or eight. Raises only PlanError, and
    not even that for a suite from `load_suite` / `apply_options` (they ran the same checks)."""
    threads = resolve_threads(suite, cores=cores)
    device = Device(kind=device.kind)
    specs = []
    for repeat in repeats if repeats is not None else range(suite.first_repeats):
        for task in suite.tasks:
            where = f"suite: task {task.name} on {datasets[task.name].used}"
            workload = _workload(task, datasets[task.name].used, where)
            for arm in suite.arms:
                specs.append(_spec(suite, arm, workload, repeat, device, threads, where))
    return specs


def _workload(task: SuiteTask, dataset: str, source: str) -> Workload:
    # The settings are declared once (TrainingSettings) and so are copied as a whole, never by name.
    settings = {name: getattr(task, name) for name in TrainingSettings.model_fields}
    # A user's data set: its facts (sha256 included) go into every job, so into its spec id.
    facts = {"data_file": task.dataset.facts} if task.dataset is not None else {}
    return _built(
        Workload, source, {"task": task.task, "dataset": dataset, "loss": task.loss, **settings, **facts}
    )


def _spec(
    suite: Suite,
    arm: Arm,
    workload: Workload,
    repeat: int,
    device: Device,
    threads: Threads,
    source: str,
) -> JobSpec:
    timeouts = _built(Timeouts, source, {"job_seconds": suite.job_timeout_seconds})
    # compile "none" is JobSpec's default, so the specs (and ids) of suites without the axis stay as they were.
    fields = {"framework": arm.framework, "compile": arm.compile, "workload": workload, "seed": suite.seed + repeat,
              "repeat": repeat, "device": device, "threads": threads, "timeouts": timeouts,
              "framework_version": arm.version, "tier": arm.tier}  # fmt: skip
    return _built(JobSpec, source, fields)


def _built(model: type[M], source: str, data: object, limit: int = 5) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PlanError(describe(exc, source, limit)) from None
