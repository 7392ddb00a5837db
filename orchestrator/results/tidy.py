"""Load a run directory into validated objects, then into one tidy table (one row per job x epoch).

Bad input never raises here: a spec without a report, an unreadable or invalid report, or a report
that contradicts its spec becomes a job with status "crashed" and a reason, so the tables and the
HTML page can show it instead of a traceback.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from orchestrator import calibration
from orchestrator.collect import MAX_REPORT_BYTES, judge
from orchestrator.noise import judge_noise
from orchestrator.rundir import RunDir
from schemas import JobSpec, RunReport
from schemas.common import write_bytes_atomic
from schemas.datasets import METRIC_FOR_TASK
from schemas.errors import first_error
from schemas.job import VERSION_PATTERN, TrainingSettings
from schemas.layers import forward_flops
from schemas.parse import ParseError, load_json_bytes
from schemas.suite import Arm, Suite, reaches

# Order of the columns in metrics.csv; a test pins it, so consumers can rely on it.
COLUMNS: tuple[str, ...] = (
    "spec_id",
    "framework",
    "task",
    "dataset",
    "repeat",
    "seed",
    "status",
    "reason",
    "metric",
    "epochs_planned",
    "epoch",
    "train_seconds",
    "cumulative_seconds",
    "train_loss_running",
    "train_loss",
    "train_metric",
    "val_loss",
    "val_metric",
    "val_ari",  # autoencoder tasks: adjusted Rand index of k-means on the validation codes
    "first_epoch_seconds",
    "steady_epoch_seconds",
    "total_train_seconds",
    "setup_seconds",
    "import_seconds",
    "data_seconds",
    "build_seconds",
    "train_gflops",  # the steady epoch's GEMM work per second (spec_gemm_flops), GFLOP/s
    "target",  # the suite's target for the job's validation metric (time to target); empty: none
    "epochs_to_target",  # the first epoch whose val_metric reached it; empty: not reached
    "seconds_to_target",  # training seconds up to the end of that epoch; inf: an ok job never reached it
    "peak_rss_mb",  # the runner's peak resident memory, MiB (runners/resources.py)
    "exit_code",
    "wall_seconds",
    "hostname",
    "hardware",
    "outside_cores",  # this epoch's timed steps: CPUs kept busy by other processes
    "job_outside_cores",  # the same over the whole job (runner start to last epoch)
    "contaminated",  # the noise guard's verdict (orchestrator/noise.py); empty: not measured
    "noise",  # its evidence in words
    "device_seconds",  # GPU jobs: this epoch's timed steps by CUDA events (PyTorch)
    "energy_joules",  # GPU jobs: energy the GPU used over this epoch's training call (NVML)
    "gpu_memory_peak_mb",  # GPU jobs: the framework allocator's peak
    "gpu_mode",  # exclusive | throughput (never pooled: a run has one mode)
    "placed_gpu",  # the GPU (UUID) the job was placed on
    "arm",  # what the results group by: schemas.suite.Arm's label ('pytorch', 'pytorch+jit')
    "compile",  # the job's compile mode: none | jit
    "version",  # the framework's main package's version a suite's `versions` asked for; empty: its lock's
    "tier",  # the job's tuning tier: matched | tuned (schemas/tiers.py)
)
INT_COLUMNS = ("repeat", "seed", "epochs_planned", "epoch", "exit_code", "epochs_to_target")
BOOL_COLUMNS = ("contaminated",)
SORT_KEYS = ["task", "arm", "repeat", "epoch", "spec_id"]


@dataclass(frozen=True)
class Job:
    """One planned job as the results see it. `status` is the effective status: the report's own,
    or "crashed" when there is no usable report."""

    spec_id: str
    spec: JobSpec | None
    report: RunReport | None
    status: str
    reason: str
    # Best-effort identity for a spec file that failed validation (None when unknowable).
    raw_framework: str | None = None
    raw_task: str | None = None
    target: float | None = None  # the suite's target for this job's validation metric
    raw_compile: str = "none"
    raw_version: str | None = None
    raw_tier: str = "matched"

    @property
    def framework(self) -> str | None:
        if self.spec is not None:
            return self.spec.framework
        return self.raw_framework

    @property
    def compile(self) -> str:
        return self.spec.compile if self.spec is not None else self.raw_compile

    @property
    def arm(self) -> str | None:
        """The arm's label (schemas.suite.Arm): what every table, plot and verdict groups by."""
        framework = self.framework
        if framework is None:
            return None
        return Arm(framework, self.compile, self.version, self.tier).label

    @property
    def tier(self) -> str:
        return self.spec.tier if self.spec is not None else self.raw_tier

    @property
    def version(self) -> str | None:
        return self.spec.framework_version if self.spec is not None else self.raw_version

    @property
    def task(self) -> str | None:
        if self.spec is not None:
            return self.spec.workload.task
        return self.raw_task

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class RunData:
    run_dir: Path
    meta: dict[str, Any]
    jobs: tuple[Job, ...]
    problems: tuple[str, ...]  # things wrong with the run directory itself, shown in the report
    baseline: str | None = None  # the suite's baseline arm (suite.json); None: no suite stored

    @property
    def name(self) -> str:
        name = self.meta.get("name")
        return name if isinstance(name, str) else self.run_dir.name

    @property
    def state(self) -> str:
        state = self.meta.get("state")
        return state if isinstance(state, str) else "unknown"


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return load_json_bytes(path.read_bytes(), path.name), None
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc.strerror}"
    except ParseError as exc:
        return None, str(exc)


def _load_meta(run: RunDir, problems: list[str]) -> dict[str, Any]:
    path = run.meta_path
    if not path.exists():
        problems.append("run.json is missing")
        return {}
    data, err = _read_json(path)
    if err is not None or not isinstance(data, dict):
        problems.append(f"run.json is unreadable: {err or 'not a JSON object'}")
        return {}
    return data


_PLAIN_VERSION = re.compile(VERSION_PATTERN)


def _raw_identity(raw: Any) -> tuple[str | None, str | None, str, str]:
    if not isinstance(raw, dict):
        return None, None, "none", "matched"
    framework = raw.get("framework")
    workload = raw.get("workload")
    task = workload.get("task") if isinstance(workload, dict) else None
    return (
        framework if isinstance(framework, str) else None,
        # Only a known task name: it ends up in file names and table titles.
        task if isinstance(task, str) and task in METRIC_FOR_TASK else None,
        "jit" if raw.get("compile") == "jit" else "none",
        "tuned" if raw.get("tier") == "tuned" else "matched",
    )


def _settings_key(task: str, dataset: str, settings: TrainingSettings) -> str:
    """What identifies a suite task's jobs: its training settings on one dataset. A target is not
    in a job's spec (it does not change training), so a job finds it by these."""
    fields = settings.model_dump(mode="json", include=set(TrainingSettings.model_fields))
    return json.dumps({"task": task, "dataset": dataset, **fields}, sort_keys=True)


def _stored_suite(run: RunDir, problems: list[str]) -> Suite | None:
    """The run's stored suite (suite.json, after command-line options); None without one."""
    path = run.suite_json
    if not path.exists():
        return None
    try:
        return Suite.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        reason = first_error(exc) if isinstance(exc, ValidationError) else exc.strerror or exc
        problems.append(f"suite.json is unreadable, so no time to target is shown: {reason}")
        return None


def _suite_targets(suite: Suite | None) -> dict[str, float]:
    """Each target of the suite by `_settings_key` on every dataset its task lists."""
    if suite is None:
        return {}
    return {
        _settings_key(task.task, dataset, task): task.target
        for task in suite.tasks
        if task.target is not None
        for dataset in task.datasets
    }


def _load_job(spec_path: Path, report_path: Path, targets: dict[str, float]) -> Job:
    spec_id = spec_path.stem
    raw, err = _read_json(spec_path)
    raw_fw, raw_task, raw_compile, raw_tier = _raw_identity(raw)
    if err is not None:
        return Job(spec_id, None, None, "crashed", f"spec unreadable: {err}", raw_fw, raw_task)
    try:
        spec = JobSpec.model_validate_json(spec_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        reason = f"spec failed validation: {first_error(exc)}"
        version = raw.get("framework_version") if isinstance(raw, dict) else None
        # Only a plain release: it ends up in arm labels, file names and table titles.
        raw_version = version if isinstance(version, str) and _PLAIN_VERSION.match(version) else None
        return Job(
            spec_id,
            None,
            None,
            "crashed",
            reason,
            raw_fw,
            raw_task,
            raw_compile=raw_compile,
            raw_version=raw_version,
            raw_tier=raw_tier,
        )
    target = targets.get(_settings_key(spec.workload.task, spec.workload.dataset, spec.workload))
    job = Job(spec_id, spec, None, "crashed", "", target=target)

    if not report_path.exists():
        return replace(job, reason="no report was written")
    if report_path.stat().st_size > MAX_REPORT_BYTES:
        return replace(job, reason=f"report is over the {MAX_REPORT_BYTES}-byte cap")
    _, err = _read_json(report_path)
    if err is not None:
        return replace(job, reason=f"report unreadable: {err}")
    try:
        report = RunReport.model_validate_json(report_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        return replace(job, reason=f"report failed validation: {first_error(exc)}")

    verdict = judge(spec, report)
    return replace(
        job, report=None if verdict.foreign else report, status=verdict.status, reason=verdict.reason
    )


def load_run(run_dir: Path) -> RunData:
    """Read run.json, every spec and its report. Never raises for bad files inside `run_dir`."""
    run = RunDir(Path(run_dir))
    problems: list[str] = []
    meta = _load_meta(run, problems)
    spec_paths = run.spec_files()
    if not spec_paths:
        problems.append("no job specs found under specs/")
    suite = _stored_suite(run, problems)
    targets = _suite_targets(suite)
    jobs = tuple(_load_job(path, run.paths_for(path.stem).report, targets) for path in spec_paths)
    known = {job.spec_id for job in jobs}
    for path in run.report_files():
        if path.stem not in known:
            problems.append(f"report without a spec ignored: {path.name}")
    baseline = suite.baseline_arm if suite is not None else None
    return RunData(run_dir=run.root, meta=meta, jobs=jobs, problems=tuple(problems), baseline=baseline)


def epoch_gemm_flops(spec: JobSpec, train_samples: int) -> float:
    """The matrix-multiply and convolution work of one training epoch: per sample, the forward pass's
    multiply-adds (schemas/layers.forward_flops) three times over (forward, gradients of inputs,
    gradients of weights); biases, activations, pooling, the loss and the optimizer are left out
    (they are far smaller at these widths)."""
    w = spec.workload
    return 3.0 * forward_flops(w.layers, w.input_shape) * train_samples


def contaminated_jobs(run: RunData) -> list[tuple[Job, str]]:
    """The ok jobs the noise guard flagged, with its evidence in words."""
    flagged = []
    for job in run.jobs:
        if job.ok and job.report is not None:
            verdict = judge_noise(job.report)
            if verdict.contaminated:
                flagged.append((job, verdict.text))
    return flagged


def hardware_class(report: RunReport | None) -> str | None:
    """What timings may be compared across: CPU model and count, and the GPU when there is one."""
    if report is None or report.env is None:
        return None
    env = report.env
    return calibration.hardware_class(env.cpu_model, env.cpu_count, env.gpu.name if env.gpu else None)


def _job_fields(job: Job) -> dict[str, Any]:
    spec, report = job.spec, job.report
    task = job.task
    row: dict[str, Any] = {
        "spec_id": job.spec_id,
        "framework": job.framework,
        "arm": job.arm,
        "compile": job.compile,
        "tier": job.tier,
        "version": job.version,
        "task": task,
        "dataset": spec.workload.dataset if spec else None,
        "repeat": spec.repeat if spec else None,
        "seed": spec.seed if spec else None,
        "status": job.status,
        "reason": job.reason,
        "metric": report.metric if report else METRIC_FOR_TASK.get(task or ""),
        "epochs_planned": spec.workload.epochs if spec else None,
        "exit_code": report.exit_code if report else None,
        "wall_seconds": report.wall_seconds if report else None,
        "hostname": report.node.hostname if report and report.node else None,
        "hardware": hardware_class(report),
    }
    if report is not None and report.placement is not None and report.placement.gpus:
        row.update(gpu_mode=report.placement.mode, placed_gpu=",".join(report.placement.gpus))
    peak = report.gpu_telemetry.memory_peak_bytes if report and report.gpu_telemetry else None
    row["gpu_memory_peak_mb"] = peak / 2**20 if peak is not None else None
    row["peak_rss_mb"] = report.resources.peak_rss_bytes / 2**20 if report and report.resources else None
    row.update(time_to_target(job))
    if report is not None and report.status == "ok":
        verdict = judge_noise(report)
        row["noise"] = verdict.text
        if verdict.measured:
            row["contaminated"] = verdict.contaminated
            row["job_outside_cores"] = report.noise.outside_cores if report.noise else None
    timing = report.timing if report else None
    if timing is not None:
        row.update(
            first_epoch_seconds=timing.first_epoch_seconds,
            steady_epoch_seconds=timing.steady_epoch_seconds,
            total_train_seconds=timing.total_train_seconds,
            setup_seconds=timing.import_seconds + timing.data_seconds + timing.build_seconds,
            import_seconds=timing.import_seconds,
            data_seconds=timing.data_seconds,
            build_seconds=timing.build_seconds,
        )
        steady = timing.steady_epoch_seconds or timing.first_epoch_seconds
        if spec is not None and report is not None and report.fairness is not None and steady:
            row["train_gflops"] = epoch_gemm_flops(spec, report.fairness.train_samples) / steady / 1e9
    return row


def time_to_target(job: Job) -> dict[str, Any]:
    """`target`, and the first epoch whose validation metric reached it with the training seconds up
    to that epoch's end. An ok job that never reached it gets +inf seconds (slower than any job that
    did: the verdict ranks it, never drops it); a failed one that had not yet reached it, nothing."""
    if job.target is None or job.report is None:
        return {"target": job.target}
    metric = job.report.metric
    hit = next((e for e in job.report.epochs if reaches(metric, e.val_metric, job.target)), None)
    if hit is not None:
        return {
            "target": job.target,
            "epochs_to_target": hit.epoch,
            "seconds_to_target": hit.cumulative_seconds,
        }
    return {"target": job.target, "seconds_to_target": math.inf if job.ok else None}


def metrics_frame(run: RunData) -> pd.DataFrame:
    """One row per job x epoch (a job without epochs keeps one row with `epoch` empty), columns
    `COLUMNS`, sorted by task, arm, repeat, epoch (spec_id breaks ties)."""
    rows: list[dict[str, Any]] = []
    for job in run.jobs:
        base = _job_fields(job)
        epochs = job.report.epochs if job.report is not None else ()
        if not epochs:
            rows.append(base)
        for rec in epochs:
            rows.append({**base, **rec.model_dump()})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in INT_COLUMNS:
        frame[col] = frame[col].astype("Int64")
    for col in BOOL_COLUMNS:
        frame[col] = frame[col].astype("boolean")
    float_cols = [
        c
        for c in COLUMNS
        if c.endswith(("_seconds", "_loss", "_metric", "_running", "_cores", "_gflops", "_joules", "_mb"))
        or c in ("target", "seconds_to_target", "val_ari")
    ]
    for col in float_cols:
        frame[col] = frame[col].astype("float64")
    for col in COLUMNS:
        if col not in INT_COLUMNS and col not in BOOL_COLUMNS and col not in float_cols:
            frame[col] = frame[col].astype("object")
    frame = frame.sort_values(SORT_KEYS, na_position="last", kind="mergesort")
    return frame.reset_index(drop=True)


def final_frame(metrics: pd.DataFrame, keep_contaminated: bool = False) -> pd.DataFrame:
    """One row per job: the job columns plus `final_train_metric` / `final_val_metric` taken from
    its last recorded epoch (NaN when it recorded none), and `in_verdicts`: an ok job that is not
    contaminated (or any ok job with `keep_contaminated`)."""
    ordered = metrics.sort_values(["spec_id", "epoch"], na_position="first", kind="mergesort")
    last = ordered.groupby("spec_id", sort=True, dropna=False).tail(1).copy()
    last["final_train_metric"] = last["train_metric"]
    last["final_val_metric"] = last["val_metric"]
    last["final_val_ari"] = last["val_ari"]
    clean = ~last["contaminated"].fillna(False).astype(bool)
    last["in_verdicts"] = (last["status"] == "ok") & (clean | keep_contaminated)
    last = last.sort_values(SORT_KEYS, na_position="last", kind="mergesort")
    return last.reset_index(drop=True)


class NoCountedJobs(ValueError):
    """A path that is not a run directory, or a run where no job counts in the verdicts."""


def counted_jobs(run_dir: Path) -> tuple[RunData, pd.DataFrame]:
    """The run and its final rows that count in the verdicts (ok; contaminated ones only if the run
    kept them), for what reads several runs at once (history, compare); NoCountedJobs in one line."""
    if not RunDir(run_dir).specs_dir.is_dir():
        raise NoCountedJobs(f"{run_dir} is not a run directory (no specs/ inside)")
    run = load_run(run_dir)
    final = final_frame(metrics_frame(run), keep_contaminated=run.meta.get("keep_contaminated") is True)
    used = final[final["in_verdicts"]]
    if used.empty:
        raise NoCountedJobs(f"{run_dir}: no job ended ok (contaminated ones left out)")
    return run, used


def frame_to_csv(frame: pd.DataFrame) -> str:
    """CSV text with fixed line endings and the shortest round-tripping float repr (stable)."""
    return str(frame.to_csv(index=False, lineterminator="\n"))


def write_metrics(run: RunData, out_dir: Path, frame: pd.DataFrame | None = None) -> list[Path]:
    """Write metrics.csv, and metrics.parquet when pyarrow imports; `frame`: the run's
    metrics_frame when the caller has it already (render_run), else built here."""
    frame = metrics_frame(run) if frame is None else frame
    written = [write_bytes_atomic(out_dir / "metrics.csv", frame_to_csv(frame).encode("utf-8"))]
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return written
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    written.append(write_bytes_atomic(out_dir / "metrics.parquet", buffer.getvalue()))
    return written


def finite(values: Any) -> list[float]:
    """The finite floats among `values` (None / NaN / inf dropped), in order."""
    out: list[float] = []
    for v in values:
        if v is None or v is pd.NA:
            continue
        f = float(v)
        if math.isfinite(f):
            out.append(f)
    return out
