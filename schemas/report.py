"""RunReport: what one job measured, where, and under which fairness settings.

A runner writes exactly one report per job (atomically); the orchestrator adds what only it can see
(exit code, wall time of the process). Success is never inferred from one of the two alone.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

from pydantic import Field, field_validator

from schemas.job import Framework, Strict

# 2: the noise guard's evidence (EpochRecord.outside_cores, RunReport.noise). Version 1 reports
# still load: the new fields are optional, and a report without them is "not measured".
REPORT_SCHEMA_VERSION: Final = 2

# skipped: never started (its runner environment could not be built, or the run was interrupted).
Status = Literal["ok", "error", "timeout", "oom", "diverged", "crashed", "skipped"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "oom", "diverged", "crashed", "skipped")


class EpochRecord(Strict):
    epoch: int = Field(ge=1)
    train_seconds: float = Field(ge=0)  # training steps only, device synchronised
    cumulative_seconds: float = Field(ge=0)
    train_loss_running: float  # mean batch loss seen while training (what `fit` prints)
    train_loss: float  # full training set, evaluated after the epoch, outside the clock
    train_metric: float
    val_loss: float
    val_metric: float
    # CPUs kept busy by other processes during this epoch's timed steps (runners/noise.py)
    outside_cores: float | None = Field(default=None, ge=0)

    @field_validator("train_loss_running", "train_loss", "train_metric", "val_loss", "val_metric")
    @classmethod
    def _finite(cls, v: float) -> float:
        # JSON has no NaN: a non-finite value means the run diverged and belongs in `status`.
        if not math.isfinite(v):
            raise ValueError("must be finite; a non-finite loss is reported as status 'diverged'")
        return v


class Timing(Strict):
    import_seconds: float = Field(ge=0)  # importing the framework
    data_seconds: float = Field(ge=0)  # loading the prepared .npz into framework tensors
    build_seconds: float = Field(ge=0)  # model, initial weights, optimizer
    first_epoch_seconds: float | None = None  # includes tracing / graph building
    steady_epoch_seconds: float | None = None  # median of epochs 2..N
    total_train_seconds: float = Field(ge=0)


class GpuInfo(Strict):
    name: str
    driver: str | None = None
    cuda: str | None = None
    gpu_uuid: str | None = None  # the device the runner actually ran on (GPU-...), to match the request


class EnvInfo(Strict):
    framework: str
    framework_version: str
    python: str
    platform: str
    cpu_model: str
    cpu_count: int
    numpy: str
    threads: dict[str, int]  # as read back from the framework after setting them
    gpu: GpuInfo | None = None
    env_hash: str  # sha256 over the installed distributions (name==version) of the runner env
    image_digest: str | None = None  # set by the docker backend
    lock_hash: str | None = None  # sha256 of the requirements file the env was built from


class Fairness(Strict):
    """The settings actually applied, read back from the framework where it can tell."""

    dataset: str
    dataset_sha256: str
    train_samples: int
    val_samples: int
    init_weights_sha256: str
    batch_order_sha256: str
    param_count: int
    initial_train_loss: float
    optimizer: dict[str, Any]
    loss: str
    precision: str
    tf32: bool
    execution: str
    notes: tuple[str, ...] = Field(default=(), strict=False)
    first_steps_samples: int | None = None  # samples in the first fairness.FIRST_STEPS batches
    first_steps_loss: float | None = None  # their mean training loss, as training saw it
    init_source: str | None = None  # the run directory's prepared file, or generated in the runner


class Noise(Strict):
    """What else the machine did while the job ran (runners/noise.py), from the start of the runner
    to its last epoch; the orchestrator judges it (orchestrator/noise.py)."""

    seconds: float = Field(ge=0)
    outside_cpu_seconds: float = Field(ge=0)  # machine CPU time spent outside the runner's process tree
    outside_cores: float = Field(ge=0)  # their mean: CPUs kept busy by others
    timed_outside_cores: float | None = Field(default=None, ge=0)  # the same over the timed steps only
    steal_seconds: float = Field(ge=0)
    throttled_seconds: float = Field(ge=0)  # cgroup CPU throttling
    cpu_count: int = Field(ge=1)
    loadavg_start: float | None = None
    loadavg_end: float | None = None
    cpu_mhz_start: float | None = None
    cpu_mhz_end: float | None = None
    gpu_other_processes: int | None = None  # other compute processes seen on the job's GPU
    gpu_throttle_reasons: tuple[str, ...] = Field(default=(), strict=False)
    readable: bool = True  # False: /proc/stat could not be read, so nothing could be seen


class ErrorInfo(Strict):
    type: str
    message: str
    traceback_tail: tuple[str, ...] = Field(default=(), strict=False)


class NodeInfo(Strict):
    """Where the job ran: filled by the orchestrator (hostname on every backend, Ray's ids on Ray)."""

    hostname: str
    ip: str | None = None
    ray_node_id: str | None = None


class RunReport(Strict):
    schema_version: Literal[1, 2] = REPORT_SCHEMA_VERSION
    spec_id: str
    framework: Framework
    status: Status
    started_at: str
    finished_at: str
    metric: Literal["accuracy", "mse"]
    epochs: tuple[EpochRecord, ...] = Field(default=(), strict=False)
    timing: Timing | None = None
    env: EnvInfo | None = None
    fairness: Fairness | None = None
    diverged_epoch: int | None = None
    error: ErrorInfo | None = None
    noise: Noise | None = None
    # Filled in by the orchestrator from what it saw of the process.
    exit_code: int | None = None
    wall_seconds: float | None = None
    node: NodeInfo | None = None
