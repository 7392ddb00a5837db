"""RunReport: what one job measured, where, and under which fairness settings.

A runner writes exactly one report per job (atomically); the orchestrator adds what only it can see
(exit code, wall time of the process). Success is never inferred from one of the two alone.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

from pydantic import Field, field_validator

from schemas.job import Framework, Strict

# 2: the noise guard's evidence (EpochRecord.outside_cores, RunReport.noise).
# 3: GPU evidence (GpuInfo details, GpuTelemetry, EpochRecord.device_seconds/energy), the placement,
#    the applied TF32 mode and each runner's input path. Older reports still load: every new field is
#    optional, and a report without it is "not measured".
# 4: the runner process tree's peak memory (RunReport.resources), optional like the above.
# 5: autoencoder tasks' clustering score per epoch (EpochRecord.val_ari), optional like the above.
REPORT_SCHEMA_VERSION: Final = 5

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
    # Autoencoder tasks: adjusted Rand index of k-means on the validation codes against the labels.
    val_ari: float | None = Field(default=None, ge=-1, le=1)
    # CPUs kept busy by other processes during this epoch's timed steps (runners/noise.py)
    outside_cores: float | None = Field(default=None, ge=0)
    # GPU jobs: the same timed steps by CUDA events (device time, to check the host clock against),
    # whether the device had finished all queued work when the host clock stopped (a guard on the
    # runner's own discipline: its clock must stop after a sync), and the energy the GPU used over the
    # epoch's training call (NVML's total-energy counter).
    device_seconds: float | None = Field(default=None, ge=0)
    device_idle_at_stop: bool | None = None
    energy_joules: float | None = Field(default=None, ge=0)

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
    # Where the rest of the runner's time went (schema 3; None in older reports): the evaluation of
    # the train and validation sets outside the clock (before epoch 1 and after every epoch), the
    # process start until the harness ran (interpreter, bench's own imports), and the harness's whole
    # run until the report was assembled (so its bookkeeping = this minus the parts named above).
    evaluation_seconds: float | None = Field(default=None, ge=0)
    # train_epoch's wall time outside its own clock, summed over epochs: mostly each epoch's setup
    # before the clock (the batch order applied to the data, split into batches, the device
    # synchronised), plus what it does after the clock stops; None in reports before it was measured.
    epoch_setup_seconds: float | None = Field(default=None, ge=0)
    startup_seconds: float | None = Field(default=None, ge=0)
    runner_seconds: float | None = Field(default=None, ge=0)


class GpuInfo(Strict):
    name: str
    driver: str | None = None
    cuda: str | None = None  # the CUDA runtime the framework was built with
    gpu_uuid: str | None = None  # the device the runner actually ran on (GPU-...), to match the request
    compute_capability: str | None = None  # "9.0"
    memory_total_bytes: int | None = None
    cudnn: str | None = None
    cublas: str | None = None
    pci_bus_id: str | None = None


class GpuTelemetry(Strict):
    """What the job's GPU did (NVML, runners/gpu.py) and the framework allocator's peak: the
    allocator's, not nvidia-smi's, which shows what TensorFlow reserves rather than uses."""

    memory_peak_bytes: int | None = None
    memory_peak_source: str | None = None  # e.g. torch.cuda.max_memory_allocated
    energy_joules: float | None = None  # over every epoch's training call (batches prepared + timed steps)
    power_watts_mean: float | None = None  # that energy / the same calls' seconds
    sm_clock_mhz: tuple[int, int] | None = Field(default=None, strict=False)  # (lowest, highest) seen
    memory_clock_mhz: int | None = None
    temperature_c: tuple[int, int] | None = Field(default=None, strict=False)
    throttle_reasons: tuple[str, ...] = Field(default=(), strict=False)  # any seen during the epochs
    other_processes: int | None = None  # most other compute processes seen on the GPU at once
    source: str = "nvml"  # or why nothing could be read ("no nvidia-ml-py in this environment")


class Placement(Strict):
    """Where the orchestrator put the job: recorded in its report, never hashed into its spec id (the
    same job on another GPU, or on a host with more GPUs, is the same job)."""

    backend: str  # venv | docker | current (no isolation: the orchestrator's own environment)
    mode: Literal["exclusive", "throughput"] = "exclusive"
    slot: int | None = None
    gpus: tuple[str, ...] = Field(default=(), strict=False)  # as CUDA_VISIBLE_DEVICES names them
    cpus: tuple[int, ...] = Field(default=(), strict=False)  # pinned CPUs; () = not pinned


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
    isolation: str | None = None  # what the backend says the runner was isolated by


class Fairness(Strict):
    """The settings actually applied, read back from the framework where it can tell."""

    dataset: str
    dataset_sha256: str
    # sha256 of each file the prepared data were made from (a user's data file; a built-in's raw
    # files), as the prepared file's meta records it; None in reports older than this field
    raw_sha256: dict[str, str] | None = None
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
    tf32_applied: str | None = None  # read back from the framework after setting it (e.g. "ieee")
    input_path: str | None = None  # where the timed steps' batches come from (fairness: same work)
    host_syncs: dict[str, int] | None = None  # {"per_step": 0, "per_epoch": 1}: waits for the device
    # The job's tuning tier (schemas/tiers.py) and what that tier added to it, read back by the
    # runner: empty for "matched"; for "tuned", each setting of schemas.tiers.TUNED that applied.
    tier: str = "matched"
    tuning: tuple[str, ...] = Field(default=(), strict=False)


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


class Resources(Strict):
    """Peak memory of the runner (runners/resources.py): the kernel's high-water mark of resident
    memory, for the runner process and for any child process it waited for, whichever is larger.
    One process's peak, not a sum over processes alive at the same time."""

    peak_rss_bytes: int = Field(ge=0)
    peak_rss_source: str  # which reading gave it, e.g. "/proc/self/status VmHWM"
    vm_hwm_bytes: int | None = Field(default=None, ge=0)  # the runner process's own mark (Linux)
    # getrusage ru_maxrss. On Linux, RUSAGE_SELF also counts the image the runner was exec'ed from
    # (its launcher's memory at fork), so where VmHWM exists it is kept only as an upper bound.
    self_maxrss_bytes: int | None = Field(default=None, ge=0)
    children_maxrss_bytes: int | None = Field(default=None, ge=0)  # the largest waited-for child


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
    schema_version: Literal[1, 2, 3, 4, 5] = REPORT_SCHEMA_VERSION
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
    gpu_telemetry: GpuTelemetry | None = None
    resources: Resources | None = None
    # Filled in by the orchestrator from what it saw of the process.
    exit_code: int | None = None
    wall_seconds: float | None = None
    node: NodeInfo | None = None
    placement: Placement | None = None
