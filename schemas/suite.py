"""Suite: what a user asks for — tasks, frameworks, repeats — before it is planned into JobSpecs."""

from __future__ import annotations

import re
from typing import Annotated, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from schemas.data_file import DataFile
from schemas.datasets import (
    CATALOG,
    DATA_TASK,
    LOSS_FOR_TASK,
    METRIC_FOR_TASK,
    DatasetInfo,
    DatasetName,
    TrainingTask,
)
from schemas.job import (
    MAIN_PACKAGE,
    MAX_JOB_SECONDS,
    MAX_THREADS,
    VERSION_PATTERN,
    Framework,
    JobSpec,
    Strict,
    TrainingSettings,
    fault,
    network_fault,
)
from schemas.tiers import Tier, tier_suffix

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Time to target: a validation metric reaches its target from its better side, so accuracy
# rises to it (>=) and MSE falls to it (<=). Anything else would have no direction.
REACHED_FROM: dict[str, Literal[">=", "<="]] = {"accuracy": ">=", "mse": "<="}


def reaches(metric: str, value: float, target: float) -> bool:
    """Whether a validation `metric` of `value` has reached `target` (see REACHED_FROM)."""
    return value >= target if REACHED_FROM[metric] == ">=" else value <= target


CompileMode = Literal["none", "jit"]


class Arm(NamedTuple):
    """One side of a comparison: what a job runs beyond its workload. The one place that names an
    arm: a later axis (tier "matched"/"tuned", a framework version) becomes a field here and a part
    of `label`, and every table, plot, verdict, history row and comparison follows, since they all
    group by the label."""

    framework: str
    compile: str = "none"
    version: str | None = None  # the framework's main package's version (Suite.versions); None: its lock's
    tier: str = "matched"  # schemas/tiers.py

    @property
    def label(self) -> str:
        """'pytorch' for the standard execution (so suites without the axis keep their names),
        'pytorch+jit' for the compiled one; a version appends '@VERSION' ('keras-jax@3.14.0',
        'keras-jax+jit@3.14.0'), the tuned tier ':tuned' ('pytorch+jit:tuned')."""
        label = self.framework if self.compile == "none" else f"{self.framework}+{self.compile}"
        label = label if self.version is None else f"{label}@{self.version}"
        return label + tier_suffix(self.tier)

    @classmethod
    def of(cls, spec: JobSpec) -> Arm:
        return cls(spec.framework, spec.compile, spec.framework_version, spec.tier)


class SuiteTask(TrainingSettings):
    """A task as the user writes it: the training settings of every job it plans into, and the
    datasets it may run on. Each listed dataset is checked here, so planning cannot fail later.

    Either `datasets` (built-in names, in order of preference: a list, since a built-in may be
    unavailable here) or `dataset` (one user data file: no fallback, it is there or the run stops)."""

    name: str = Field(description="table/plot label, e.g. 'classification'")
    task: TrainingTask
    # Accepted datasets in order of preference: the first one available here is used, and the
    # report says which and why (e.g. MNIST, then Fashion-MNIST as the offline drop-in).
    datasets: tuple[DatasetName, ...] = Field(default=(), max_length=16, strict=False)
    dataset: DataFile | None = None
    # Time to target (as MLPerf scores training): the validation metric each job must reach; its
    # first such epoch and the training seconds up to it are reported. Not a training setting: it is
    # not copied into the jobs (plan._workload takes TrainingSettings only), so spec ids ignore it.
    target: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _datasets_fit(self) -> SuiteTask:
        if bool(self.datasets) == (self.dataset is not None):
            raise fault(
                "datasets",
                "give either `datasets` (built-in names) or `dataset` (your own file), not both"
                if self.datasets
                else "missing: give `datasets` (built-in names) or `dataset` (your own file)",
            )
        facts = self.dataset.facts if self.dataset is not None else None
        needs = DATA_TASK[self.task]
        if self.dataset is not None and facts is not None:
            if facts.task != needs:
                raise fault("dataset.facts.task", f"is {facts.task}; {self.task} needs {needs} data")
            display = self.dataset.display
            info = DatasetInfo(display, facts.task, facts.n_features, facts.n_outputs, "your data file")
            problem = network_fault(self, self.task, display, info)
            if problem is not None:
                raise problem
        for i, dataset in enumerate(self.datasets):
            if CATALOG[dataset].task != needs:
                raise fault(
                    f"datasets[{i}]",
                    f"{dataset!r} is a {CATALOG[dataset].task} dataset; {self.task} needs {needs}",
                )
            problem = network_fault(self, self.task, dataset, CATALOG[dataset])
            if problem is not None:
                raise problem
        problem = target_fault(self.metric, self.target)
        if problem is not None:
            raise problem
        return self

    @property
    def metric(self) -> str:
        return METRIC_FOR_TASK[self.task]

    @property
    def loss(self) -> str:
        return LOSS_FOR_TASK[self.task]


def target_fault(metric: str, target: float | None) -> PydanticCustomError | None:
    """Why `target` cannot tell one job from another, or None: an accuracy target must lie in (0, 1]
    (any network reaches 0, none passes 1); an MSE target above 0 (an MSE is never below it)."""
    if target is None:
        return None
    if metric == "accuracy" and not 0 < target <= 1:
        return fault("target", f"is {target!r}; an accuracy target must be in (0, 1]")
    if metric == "mse" and not target > 0:
        return fault("target", f"is {target!r}; an MSE target must be above 0")
    return None


_VERSION = re.compile(VERSION_PATTERN)


def versions_fault(
    versions: dict[str, tuple[str, ...]], frameworks: tuple[str, ...]
) -> PydanticCustomError | None:
    """Why a suite's `versions` cannot be planned, or None: each framework named must be one of the
    suite's and have a main package, and each list must hold distinct plain releases."""
    for fw, listed in versions.items():
        where = f"versions.{fw[:40]}"
        if fw not in frameworks:
            return fault(where, f"{fw!r} is not in frameworks ({', '.join(frameworks)})")
        if fw not in MAIN_PACKAGE:
            return fault(where, f"{fw!r} has no framework package to vary")
        if not listed:
            return fault(where, "is empty; list at least one version, or leave the framework out")
        for i, version in enumerate(listed):
            if len(version) > 64 or not _VERSION.match(version):
                return fault(f"{where}[{i}]", f"{version!r} is not a plain release such as '3.14.0'")
            if version in listed[:i]:
                return fault(f"{where}[{i}]", f"{version!r} is listed twice")
    return None


AUTO_FIRST_REPEATS = 5  # the fewest with which the verdict rule can decide anything


class Suite(Strict):
    schema_version: Literal[1] = 1
    name: str
    description: str = ""
    frameworks: tuple[Framework, ...] = Field(min_length=1, strict=False)
    # One arm per framework x compile mode ("jit": XLA for Keras, torch.compile for PyTorch).
    compile: tuple[CompileMode, ...] = Field(default=("none",), min_length=1, strict=False)
    # One arm per tier too (schemas/tiers.py): "matched" (the default) and/or "tuned". A single
    # string is one tier.
    tier: tuple[Tier, ...] = Field(default=("matched",), min_length=1, strict=False)
    # A version matrix: framework -> versions of its main package (schemas.job.MAIN_PACKAGE), each
    # its own runner environment and arm ('keras-jax@3.14.0'); a framework not named: its lock's.
    versions: dict[str, Annotated[tuple[str, ...], Field(strict=False)]] = Field(
        default_factory=dict, strict=False, max_length=16, exclude_if=lambda versions: not versions
    )
    # The arm every other is compared with when there are more than two (an arm label, e.g.
    # "pytorch+jit"); default: the first arm (first framework, first compile mode).
    baseline: str | None = Field(default=None, max_length=100)
    # "auto": start with AUTO_FIRST_REPEATS, then add one repeat of every arm at a time until
    # every verdict is decided or max_repeats is reached (orchestrator/auto_repeats.py).
    repeats: int | Literal["auto"] = Field(
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 1, "maximum": 1000}, {"const": "auto"}]}
    )
    max_repeats: int = Field(default=20, ge=AUTO_FIRST_REPEATS, le=1000)
    seed: int = Field(ge=0, lt=2**31, description="repeat r of every framework uses seed + r")
    intra_op_threads: int | Literal["auto"] = Field(
        default="auto",
        json_schema_extra={
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_THREADS}, {"const": "auto"}]
        },
    )
    inter_op_threads: int = Field(default=1, ge=1, le=MAX_THREADS)
    job_timeout_seconds: float = Field(default=3600, gt=0, le=MAX_JOB_SECONDS, allow_inf_nan=False)
    tasks: tuple[SuiteTask, ...] = Field(min_length=1, strict=False)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        return SuiteTask._safe_name(v)

    @field_validator("tier", mode="before")
    @classmethod
    def _one_tier(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v  # `tier = "tuned"` as the issue's users write it

    @field_validator("repeats", mode="plain")
    @classmethod
    def _repeats(cls, v: object) -> int | str:
        if v == "auto" or (type(v) is int and 1 <= v <= 1000):
            return v  # type: ignore[return-value]
        raise PydanticCustomError("repeats", "must be 'auto' or a whole number from 1 to 1000", {})

    @property
    def arms(self) -> tuple[Arm, ...]:
        """Every arm, in plan order: framework-major, then version, compile mode, tier (A B C per repeat)."""
        return tuple(
            Arm(fw, mode, version, tier)
            for fw in self.frameworks
            for version in self.versions.get(fw) or (None,)
            for mode in self.compile
            for tier in self.tier
        )

    @property
    def baseline_arm(self) -> str:
        """The label of the arm the others are compared with."""
        return self.baseline if self.baseline is not None else self.arms[0].label

    @property
    def first_repeats(self) -> int:
        """How many repeats the plan starts with."""
        return AUTO_FIRST_REPEATS if self.repeats == "auto" else self.repeats

    @property
    def most_repeats(self) -> int:
        """How many repeats the run may reach."""
        return max(self.max_repeats, AUTO_FIRST_REPEATS) if self.repeats == "auto" else self.repeats

    @field_validator("intra_op_threads", mode="plain")
    @classmethod
    def _intra_op(cls, v: object) -> int | str:
        # Plain, not the union's own validation: that reports one error per member ("should be a
        # valid integer", "should be 'auto'") and never the bounds JobSpec's Threads enforces.
        if v == "auto" or (type(v) is int and 1 <= v <= MAX_THREADS):
            return v  # type: ignore[return-value]
        raise PydanticCustomError(
            "threads", "must be 'auto' or a whole number from 1 to {max}", {"max": MAX_THREADS}
        )

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        names = [t.name for t in self.tasks]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise fault(f"tasks[{i}].name", f"{name!r} is already the name of tasks[{names.index(name)}]")
        for i, framework in enumerate(self.frameworks):
            if framework in self.frameworks[:i]:
                raise fault(f"frameworks[{i}]", f"{framework!r} is listed twice")
        for axis in ("compile", "tier"):
            listed = getattr(self, axis)
            for i, mode in enumerate(listed):
                if mode in listed[:i]:
                    raise fault(f"{axis}[{i}]", f"{mode!r} is listed twice")
        problem = versions_fault(self.versions, self.frameworks)
        if problem is not None:
            raise problem
        labels = [arm.label for arm in self.arms]
        if self.baseline is not None and self.baseline not in labels:
            raise fault("baseline", f"{self.baseline!r} names no arm; the arms are {', '.join(labels)}")
        return self
