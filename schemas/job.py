"""JobSpec: one training job, every setting that can change a number spelled out.

Nothing is left to a framework default: a default that differs between frameworks (Adam's epsilon,
weight initialisation, thread counts) compares defaults, not frameworks.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.datasets import (
    CATALOG,
    DATA_TASK,
    LOSS_FOR_TASK,
    MAX_CLASSES,
    MAX_FEATURES,
    USER_NAME,
    DatasetInfo,
    DatasetName,
    Task,
    TrainingTask,
    user_dataset_info,
    user_dataset_name,
)
from schemas.layers import MAX_UNITS, Dense, Layer, ShapeError, Strict, input_shape, shapes
from schemas.tiers import Tier

SCHEMA_VERSION: Final = 1

Framework = Literal["pytorch", "tensorflow", "keras-jax", "keras-torch", "jax", "fake"]

# Each framework's main package: the distribution(s) a suite's `versions` vary (one is installed;
# the first found counts) and that a runner checks against JobSpec.framework_version. The fake
# runner has none, so it has no versions.
MAIN_PACKAGE: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch",),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "jax": ("jax",),
    "keras-jax": ("keras",),
    "keras-torch": ("keras",),
}
# A plain release as a version matrix names it ("3.14.0", "2.13.0+cpu"): nothing a path or a shell
# could read as more than a name.
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+)*([a-z0-9.+-]*)$"
__all__ = ["MAX_UNITS", "Dense", "Layer", "Strict"]  # the layer kinds live in schemas/layers.py


# NaN passes every bound (all comparisons with it are false) and would only fail in the runner.
Rate = Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


class Adam(Strict):
    name: Literal["adam"] = "adam"
    learning_rate: Rate
    beta_1: Fraction
    beta_2: Fraction
    epsilon: float = Field(gt=0, le=1, allow_inf_nan=False)


class SGD(Strict):
    name: Literal["sgd"] = "sgd"
    learning_rate: Rate
    momentum: Fraction
    nesterov: bool


Optimizer = Annotated[Adam | SGD, Field(discriminator="name")]

MAX_SAMPLES = 100_000_000


class TrainingSettings(Strict):
    """How a network is trained, declared once: a suite's task and a job's workload both inherit it,
    so a value the suite accepts is one every job accepts (the bounds cannot drift apart)."""

    # strict=False only lets a list stand for the tuple (TOML and Python callers write lists).
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=64, strict=False)
    optimizer: Optimizer
    batch_size: int = Field(ge=1, le=1_000_000)
    epochs: int = Field(ge=1, le=10_000)
    init: Literal["glorot_uniform", "he_uniform"] = "glorot_uniform"
    # Cap on samples used (first N of the fixed split), for quick and parity runs; None = all.
    max_train_samples: int | None = Field(default=None, ge=1, le=MAX_SAMPLES)
    max_val_samples: int | None = Field(default=None, ge=1, le=MAX_SAMPLES)
    # Autoencoder tasks: the index of the (dense) layer whose output is the code k-means clusters.
    # Left out of the JSON when absent, so other tasks' spec ids stay what they were.
    code_layer: int | None = Field(default=None, ge=0, le=63, exclude_if=lambda index: index is None)


def fault(field: str, reason: str) -> PydanticCustomError:
    """A cross-field error that still names its field (`schemas.errors` appends `field` to the
    location), e.g. `tasks[0].layers[-1].units: is 7 but mnist-5k needs 10 outputs`."""
    return PydanticCustomError("inconsistent", "{reason}", {"field": field, "reason": reason})


def network_fault(
    settings: TrainingSettings, task: str, dataset: str, info: DatasetInfo
) -> PydanticCustomError | None:
    """Why the layers cannot train on `dataset` (`info`: its sizes) for `task`, or None: every layer
    must take its input's shape (schemas/layers.py), and the last must give the outputs raw (logits
    or values go into each framework's fused loss: fairness rule 4)."""
    layers = settings.layers
    try:
        shapes(layers, input_shape(layers, info.image, info.n_features))
    except ShapeError as exc:
        return fault(f"layers[{exc.index}]" + (f".{exc.field}" if exc.field else ""), str(exc))
    needed, last = info.outputs_for(task), layers[-1]
    why = " (an autoencoder gives back its inputs)" if task == "autoencoder" else ""
    if not isinstance(last, Dense):
        return fault("layers[-1]", f"is {last.kind}; the last layer must be dense with {needed} units{why}")
    if last.units != needed:
        return fault("layers[-1].units", f"is {last.units} but {dataset} needs {needed} outputs{why}")
    if last.activation != "linear":
        return fault("layers[-1].activation", "must be 'linear' (the loss takes raw outputs)")
    return code_fault(settings, task)


def code_fault(settings: TrainingSettings, task: str) -> PydanticCustomError | None:
    code = settings.code_layer
    if task != "autoencoder":
        return (
            None
            if code is None
            else fault("code_layer", f"only an autoencoder has a code; this task is {task}")
        )
    if code is None:
        return fault("code_layer", "missing: the index of the dense layer whose output is the code")
    if code >= len(settings.layers) - 1:
        return fault("code_layer", f"is {code}; the code must come before the last layer "
                     f"(0 to {len(settings.layers) - 2})")  # fmt: skip
    if not isinstance(settings.layers[code], Dense):
        return fault(
            "code_layer", f"layers[{code}] is {settings.layers[code].kind}; the code must be a dense layer"
        )
    return None


DataFormat = Literal["csv", "npz", "idx"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
UserDatasetName = Annotated[str, Field(pattern=f"^{USER_NAME.pattern}$")]


class DataFacts(Strict):
    """What bench read from a user's data file(s): every job on them carries this."""

    format: DataFormat
    task: Task
    target: str | None = Field(default=None, max_length=1024)  # the CSV's target column
    # file name -> sha256 of its bytes, as read when the suite was loaded
    sha256: dict[str, Sha256] = Field(min_length=1, max_length=2)
    n_features: int = Field(ge=1, le=MAX_FEATURES)
    n_outputs: int = Field(ge=1, le=MAX_CLASSES)  # classes (classification) or targets (regression)

    @model_validator(mode="after")
    def _outputs_fit(self) -> DataFacts:
        if self.task == "classification" and self.n_outputs < 2:
            raise ValueError("classification needs at least 2 classes")
        return self

    def key(self) -> str:
        """12 hex digits of the facts' hash: which prepared file holds these data."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def dataset_name(self, file_name: str) -> str:
        return user_dataset_name(file_name, self.task, self.n_features, self.n_outputs, self.key())


class Workload(TrainingSettings):
    """What is trained: the same for every framework of a task."""

    task: TrainingTask
    dataset: DatasetName | UserDatasetName
    loss: Literal["cross_entropy", "mse"]
    # A user's data file: what it holds (its sha256 included, so a changed file gives new spec ids).
    # Left out of the JSON when absent, so the built-in datasets' spec ids stay what they were.
    data_file: DataFacts | None = Field(default=None, exclude_if=lambda facts: facts is None)

    @property
    def info(self) -> DatasetInfo:
        return CATALOG[self.dataset]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """What the first layer sees: the dataset's image shape for a conv net, else flat features."""
        return input_shape(self.layers, self.info.image, self.info.n_features)

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        user = user_dataset_info(self.dataset)
        if (user is None) != (self.data_file is None):
            raise fault(
                "data_file",
                "describes a user data file, so dataset must be its name"
                if user is None
                else "is required: dataset names a user data file",
            )
        if user is not None and self.data_file is not None:
            facts, key = self.data_file, USER_NAME.fullmatch(self.dataset)["key"]  # type: ignore[index]
            if (user.task, user.n_features, user.n_outputs, key) != (
                facts.task, facts.n_features, facts.n_outputs, facts.key()
            ):  # fmt: skip
                raise fault("dataset", f"{self.dataset!r} does not name data_file (its task, sizes, sha256)")
        info = CATALOG.get(self.dataset)
        if info is None:  # a name of the user pattern whose sizes are out of bounds
            raise fault("dataset", f"{self.dataset!r} is not a dataset name")
        if info.task != DATA_TASK[self.task]:
            raise fault("dataset", f"{self.dataset!r} is a {info.task} dataset; {self.task} needs a "
                        f"{DATA_TASK[self.task]} one")  # fmt: skip
        if LOSS_FOR_TASK[self.task] != self.loss:
            raise fault(
                "loss", f"{self.loss!r} does not fit a {self.task} task; use {LOSS_FOR_TASK[self.task]!r}"
            )
        problem = network_fault(self, self.task, self.dataset, info)
        if problem is not None:
            raise problem
        return self


class Device(Strict):
    kind: Literal["cpu", "gpu"] = "cpu"
    gpu_ids: tuple[int, ...] = Field(default=(), strict=False)

    @model_validator(mode="after")
    def _ids(self) -> Device:
        if self.kind == "cpu" and self.gpu_ids:
            raise ValueError("gpu_ids must be empty for a cpu device")
        if any(i < 0 or i > 1023 for i in self.gpu_ids):
            raise ValueError("gpu_ids must be between 0 and 1023")
        return self


MAX_THREADS = 1024
MAX_JOB_SECONDS = 7 * 24 * 3600


class Threads(Strict):
    intra_op: int = Field(ge=1, le=MAX_THREADS)
    inter_op: int = Field(ge=1, le=MAX_THREADS)


class Timeouts(Strict):
    job_seconds: float = Field(gt=0, le=MAX_JOB_SECONDS, allow_inf_nan=False)


class JobSpec(Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    framework: Framework
    workload: Workload
    seed: int = Field(ge=0, lt=2**32)
    repeat: int = Field(ge=0, le=100_000)
    device: Device = Device()
    threads: Threads
    precision: Literal["float32"] = "float32"
    # TensorFloat-32 matmuls on Ampere+ GPUs: off on both sides unless asked for on both.
    tf32: bool = False
    # "none": each framework's standard execution (Keras tf.function graph, PyTorch eager);
    # "jit": XLA for Keras, torch.compile for PyTorch.
    compile: Literal["none", "jit"] = "none"
    # The version of the framework's main package (MAIN_PACKAGE) a version matrix asked for; None:
    # the framework's own lock. Left out of the JSON when None, so spec ids without it stay as they were.
    framework_version: str | None = Field(
        default=None, max_length=64, pattern=VERSION_PATTERN, exclude_if=lambda version: version is None
    )
    # How hard the framework is pushed within the same maths (schemas/tiers.py). Left out of the
    # JSON when "matched", so the spec ids of every suite without the axis stay as they were.
    tier: Tier = Field(default="matched", exclude_if=lambda tier: tier == "matched")
    timeouts: Timeouts

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def runner_env(self) -> str:
        """The runner environment this job needs: 'keras-jax', or 'keras-jax@3.14.0' for a version."""
        return (
            self.framework if self.framework_version is None else f"{self.framework}@{self.framework_version}"
        )

    @property
    def spec_id(self) -> str:
        """Content hash: the same settings always give the same id, on any machine."""
        digest = hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]
        return f"{self.framework}-{self.workload.dataset}-{digest}"
