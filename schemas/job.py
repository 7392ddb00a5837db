"""JobSpec: one training job, every setting that can change a number spelled out.

Nothing is left to a framework default: a default that differs between frameworks (Adam's epsilon,
weight initialisation, thread counts) compares defaults, not frameworks.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.datasets import CATALOG, LOSS_FOR_TASK, DatasetName, Task

SCHEMA_VERSION: Final = 1

Framework = Literal["pytorch", "tensorflow", "fake"]
MAX_UNITS = 65_536


class Strict(BaseModel):
    """Base of every contract model: immutable, unknown fields rejected, no silent coercion of
    strings into numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Dense(Strict):
    kind: Literal["dense"] = "dense"
    units: int = Field(ge=1, le=MAX_UNITS)
    activation: Literal["relu", "tanh", "sigmoid", "linear"]


# One layer kind so far; becomes a discriminated union on `kind` when a second arrives.
Layer = Dense


class Adam(Strict):
    name: Literal["adam"] = "adam"
    learning_rate: float = Field(gt=0, le=10)
    beta_1: float = Field(ge=0, lt=1)
    beta_2: float = Field(ge=0, lt=1)
    epsilon: float = Field(gt=0, le=1)


class SGD(Strict):
    name: Literal["sgd"] = "sgd"
    learning_rate: float = Field(gt=0, le=10)
    momentum: float = Field(ge=0, lt=1)
    nesterov: bool


Optimizer = Annotated[Adam | SGD, Field(discriminator="name")]


class Workload(Strict):
    """What is trained: the same for every framework of a task."""

    task: Task
    dataset: DatasetName
    # strict=False only lets a list stand for the tuple (TOML and Python callers write lists).
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=64, strict=False)
    loss: Literal["cross_entropy", "mse"]
    optimizer: Optimizer
    batch_size: int = Field(ge=1, le=1_000_000)
    epochs: int = Field(ge=1, le=10_000)
    init: Literal["glorot_uniform", "he_uniform"] = "glorot_uniform"
    # Cap on samples used (first N of the fixed split), for quick and parity runs; None = all.
    max_train_samples: int | None = Field(default=None, ge=1, le=100_000_000)
    max_val_samples: int | None = Field(default=None, ge=1, le=100_000_000)

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        info = CATALOG[self.dataset]
        if info.task != self.task:
            raise ValueError(f"dataset {self.dataset!r} is a {info.task} dataset, not {self.task}")
        if LOSS_FOR_TASK[self.task] != self.loss:
            raise ValueError(
                f"loss {self.loss!r} does not fit a {self.task} task; use {LOSS_FOR_TASK[self.task]!r}"
            )
        last = self.layers[-1]
        if last.units != info.n_outputs:
            raise ValueError(
                f"layers[-1].units is {last.units} but {self.dataset} needs {info.n_outputs} outputs"
            )
        if last.activation != "linear":
            # Logits / raw outputs go into each framework's fused loss (fairness rule 4).
            raise ValueError("layers[-1].activation must be 'linear' (the loss takes raw outputs)")
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


class Threads(Strict):
    intra_op: int = Field(ge=1, le=1024)
    inter_op: int = Field(ge=1, le=1024)


class Timeouts(Strict):
    job_seconds: float = Field(gt=0, le=7 * 24 * 3600)


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
    timeouts: Timeouts

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def spec_id(self) -> str:
        """Content hash: the same settings always give the same id, on any machine."""
        digest = hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]
        return f"{self.framework}-{self.workload.dataset}-{digest}"
