"""Suite: what a user asks for — tasks, frameworks, repeats — before it is planned into JobSpecs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.datasets import CATALOG, LOSS_FOR_TASK, DatasetName, Task
from schemas.job import Framework, Layer, Optimizer, Strict

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SuiteTask(Strict):
    name: str = Field(description="table/plot label, e.g. 'classification'")
    task: Task
    # Accepted datasets in order of preference: the first one available here is used, and the
    # report says which and why (e.g. MNIST, then Fashion-MNIST as the offline drop-in).
    datasets: tuple[DatasetName, ...] = Field(min_length=1, strict=False)
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=64, strict=False)
    optimizer: Optimizer
    batch_size: int = Field(ge=1, le=1_000_000)
    epochs: int = Field(ge=1, le=10_000)
    init: Literal["glorot_uniform", "he_uniform"] = "glorot_uniform"
    max_train_samples: int | None = Field(default=None, ge=1)
    max_val_samples: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _datasets_fit_task(self) -> SuiteTask:
        wrong = [d for d in self.datasets if CATALOG[d].task != self.task]
        if wrong:
            raise ValueError(f"datasets {wrong} are not {self.task} datasets")
        return self

    @property
    def loss(self) -> str:
        return LOSS_FOR_TASK[self.task]


class Suite(Strict):
    schema_version: Literal[1] = 1
    name: str
    description: str = ""
    frameworks: tuple[Framework, ...] = Field(min_length=1, strict=False)
    repeats: int = Field(ge=1, le=1000)
    seed: int = Field(ge=0, lt=2**31, description="repeat r of every framework uses seed + r")
    intra_op_threads: int | Literal["auto"] = "auto"
    inter_op_threads: int = Field(default=1, ge=1, le=1024)
    job_timeout_seconds: float = Field(default=3600, gt=0, le=7 * 24 * 3600)
    tasks: tuple[SuiteTask, ...] = Field(min_length=1, strict=False)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        return SuiteTask._safe_name(v)

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        if len(set(self.frameworks)) != len(self.frameworks):
            raise ValueError("frameworks must not repeat")
        return self
