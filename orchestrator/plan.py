"""Suite file -> options applied -> datasets chosen -> interleaved JobSpecs."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import describe
from schemas.job import Device, JobSpec, Threads, Timeouts, Workload
from schemas.suite import Suite, SuiteTask

ROOT = Path(__file__).resolve().parent.parent
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
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise PlanError(f"cannot read suite {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Suite.model_validate(raw)
    except ValidationError as exc:
        raise PlanError(f"invalid suite {describe(exc, str(path))}") from None


def apply_options(
    suite: Suite,
    frameworks: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    repeats: int | None = None,
    epochs: int | None = None,
    quick: bool = False,
) -> Suite:
    """Narrow or shrink a suite from command-line options; the result is what the run records."""
    update: dict[str, object] = {}
    if frameworks:
        update["frameworks"] = list(frameworks)
    if repeats is not None:
        update["repeats"] = repeats
    chosen = list(suite.tasks)
    if tasks:
        unknown = sorted(set(tasks) - {t.name for t in chosen})
        if unknown:
            raise PlanError(f"unknown task(s) {unknown}; this suite has {[t.name for t in chosen]}")
        chosen = [t for t in chosen if t.name in tasks]
    new_tasks = []
    for task in chosen:
        changes: dict[str, object] = {}
        if quick:
            changes["epochs"] = min(task.epochs, QUICK_MAX_EPOCHS)
            if task.task == "classification":
                changes["datasets"] = list(QUICK_CLASSIFICATION_DATASETS)
                changes["max_train_samples"] = QUICK_MAX_TRAIN_SAMPLES
        if epochs is not None:
            changes["epochs"] = epochs
        new_tasks.append(_revalidate(SuiteTask, task, changes))
    update["tasks"] = new_tasks
    return _revalidate(Suite, suite, update)


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _revalidate(model: type[M], obj: BaseModel, changes: dict[str, object]) -> M:
    """model_copy(update=) skips validation; options must pass the same checks as the file."""
    data = {**obj.model_dump(mode="json"), **{k: _plain(v) for k, v in changes.items()}}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PlanError(f"invalid option: {describe(exc, 'command line')}") from None


@dataclass(frozen=True)
class DatasetChoice:
    used: str
    reason: str


def choose_datasets(suite: Suite, prepare: Callable[[str], object]) -> dict[str, DatasetChoice]:
    """First dataset of each task's list that can be prepared here wins; the reason is recorded."""
    from runners.datasets import DatasetError

    choices: dict[str, DatasetChoice] = {}
    for task in suite.tasks:
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


def resolve_threads(suite: Suite) -> Threads:
    intra = os.cpu_count() or 1 if suite.intra_op_threads == "auto" else suite.intra_op_threads
    return Threads(intra_op=int(intra), inter_op=suite.inter_op_threads)


def plan(suite: Suite, datasets: dict[str, DatasetChoice], device: Device) -> list[JobSpec]:
    """Repeat-major and framework-interleaved (A B A B ...), so slow drift of the machine (heat,
    other load) spreads over all frameworks instead of landing on one."""
    threads = resolve_threads(suite)
    specs = []
    for repeat in range(suite.repeats):
        for task in suite.tasks:
            workload = _workload(task, datasets[task.name].used)
            for framework in suite.frameworks:
                specs.append(
                    JobSpec(
                        framework=framework,
                        workload=workload,
                        seed=suite.seed + repeat,
                        repeat=repeat,
                        device=device,
                        threads=threads,
                        timeouts=Timeouts(job_seconds=suite.job_timeout_seconds),
                    )
                )
    return specs


def _workload(task: SuiteTask, dataset: str) -> Workload:
    try:
        return Workload(
            task=task.task,
            dataset=dataset,  # type: ignore[arg-type]
            layers=task.layers,
            loss=task.loss,  # type: ignore[arg-type]
            optimizer=task.optimizer,
            batch_size=task.batch_size,
            epochs=task.epochs,
            init=task.init,
            max_train_samples=task.max_train_samples,
            max_val_samples=task.max_val_samples,
        )
    except ValidationError as exc:
        raise PlanError(f"task {task.name} on {dataset}: {describe(exc, 'suite')}") from None
