"""Synthetic JobSpecs, RunReports and run directories for the results tests (no framework needed)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from schemas import (
    Adam,
    Dense,
    EnvInfo,
    EpochRecord,
    ErrorInfo,
    Fairness,
    JobSpec,
    RunReport,
    Threads,
    Timeouts,
    Timing,
    Workload,
)

TASKS: dict[str, dict[str, Any]] = {
    "classification": {
        "dataset": "mnist-5k",
        "units": (128, 128, 10),
        "loss": "cross_entropy",
        "metric": "accuracy",
        "epochs": 20,
    },
    "regression": {
        "dataset": "petrol",
        "units": (100, 50, 25, 1),
        "loss": "mse",
        "metric": "mse",
        "epochs": 30,
    },
}


def make_spec(
    framework: str, task: str = "classification", repeat: int = 0, epochs: int | None = None
) -> JobSpec:
    t = TASKS[task]
    units = t["units"]
    layers = [Dense(units=u, activation="relu") for u in units[:-1]]
    layers.append(Dense(units=units[-1], activation="linear"))
    workload = Workload(
        task=cast(Any, task),
        dataset=t["dataset"],
        layers=tuple(layers),
        loss=t["loss"],
        optimizer=Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        batch_size=32,
        epochs=epochs if epochs is not None else t["epochs"],
    )
    return JobSpec(
        framework=cast(Any, framework),
        workload=workload,
        seed=1000 + repeat,
        repeat=repeat,
        threads=Threads(intra_op=2, inter_op=1),
        timeouts=Timeouts(job_seconds=3600.0),
    )


def _sha(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def make_report(
    spec: JobSpec,
    *,
    status: str = "ok",
    epoch_seconds: float = 1.0,
    final_val: float | None = None,
    n_epochs: int | None = None,
    noise: float = 0.02,
    initial_loss_offset: float = 0.0,
    epoch1_offset: float = 0.0,
    exit_code: int | None = 0,
    error: str | None = None,
) -> RunReport:
    """A plausible report: per-epoch times ~ epoch_seconds (x1.5 for epoch 1), metrics converging
    to `final_val`. Noise is seeded from the spec id, so the same spec gives the same report."""
    task = spec.workload.task
    metric = TASKS[task]["metric"]
    rng = np.random.default_rng(int(spec.spec_id.rsplit("-", 1)[1], 16) % 2**32)
    n = spec.workload.epochs if n_epochs is None else n_epochs
    target = final_val if final_val is not None else (0.97 if metric == "accuracy" else 0.3)
    epochs, cumulative = [], 0.0
    for e in range(1, n + 1):
        secs = epoch_seconds * (1.5 if e == 1 else 1.0) * (1 + noise * rng.standard_normal())
        cumulative += secs
        frac = 1 - math.exp(-e / 3)
        if metric == "accuracy":
            val = 0.1 + (target - 0.1) * frac
            train, tloss = min(1.0, val + 0.01), 2.3 * (1 - frac) + 0.05
        else:
            val = target + 2.0 * (1 - frac)
            train, tloss = val * 0.8, val * 0.8
        epochs.append(
            EpochRecord(
                epoch=e,
                train_seconds=secs,
                cumulative_seconds=cumulative,
                # Same init and batch order: epoch 1 is the same for every framework.
                train_loss_running=(2.0 + epoch1_offset) if e == 1 else tloss * 1.1,
                train_loss=tloss,
                train_metric=train,
                val_loss=tloss * 1.2,
                val_metric=val * (1 + noise * 0.1 * rng.standard_normal()),
            )
        )
    steady = float(np.median([r.train_seconds for r in epochs[1:]])) if len(epochs) > 1 else None
    fairness = Fairness(
        dataset=spec.workload.dataset,
        dataset_sha256=_sha("data", spec.workload.dataset),
        train_samples=4000,
        val_samples=1000,
        init_weights_sha256=_sha("init", spec.seed, task),
        batch_order_sha256=_sha("order", spec.seed, task),
        param_count=118282 if task == "classification" else 7901,
        initial_train_loss=2.302585 + initial_loss_offset,
        optimizer={"name": "adam", "learning_rate": 1e-3, "epsilon": 1e-7},
        loss=spec.workload.loss,
        precision="float32",
        tf32=False,
        execution="eager" if spec.framework == "pytorch" else "graph",
    )
    env = EnvInfo(
        framework=spec.framework,
        framework_version="2.13.0" if spec.framework == "pytorch" else "2.21.0",
        python="3.11.9",
        platform="Linux-x86_64",
        cpu_model="Synthetic CPU",
        cpu_count=2,
        numpy="2.4.6",
        threads={"intra_op": 2, "inter_op": 1},
        env_hash=_sha("env", spec.framework),
    )
    return RunReport(
        spec_id=spec.spec_id,
        framework=spec.framework,
        status=cast(Any, status),
        started_at="2024-01-01T00:00:00Z",
        finished_at="2024-01-01T00:01:00Z",
        metric=metric,
        epochs=tuple(epochs),
        timing=Timing(
            import_seconds=0.5,
            data_seconds=0.2,
            build_seconds=0.1,
            first_epoch_seconds=epochs[0].train_seconds if epochs else None,
            steady_epoch_seconds=steady,
            total_train_seconds=cumulative,
        ),
        env=env,
        fairness=fairness,
        error=ErrorInfo(type="RuntimeError", message=error, traceback_tail=("line 1", "line 2"))
        if error
        else None,
        exit_code=exit_code,
        wall_seconds=cumulative + 1.0,
    )


def write_run(
    root: Path,
    jobs: Sequence[tuple[JobSpec, RunReport | str | None]],
    meta: dict[str, Any] | None = None,
) -> Path:
    """A run directory; a job's report may be a RunReport, raw text (for bad files) or None."""
    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "reports").mkdir(parents=True, exist_ok=True)
    meta = (
        meta
        if meta is not None
        else {
            "name": "synthetic",
            "created_at": "2024-01-01T00:00:00Z",
            "state": "complete",
            "backend": "fake",
            "datasets": {
                "classification": {"used": "mnist-5k", "reason": "full MNIST cannot be downloaded here"},
                "regression": {"used": "petrol", "reason": "the paper's data set"},
            },
            "machine": "test",
        }
    )
    (root / "run.json").write_text(json.dumps(meta))
    for spec, report in jobs:
        (root / "specs" / f"{spec.spec_id}.json").write_text(spec.model_dump_json())
        if isinstance(report, RunReport):
            (root / "reports" / f"{spec.spec_id}.json").write_text(report.model_dump_json())
        elif isinstance(report, str):
            (root / "reports" / f"{spec.spec_id}.json").write_text(report)
    return root


def paper_run(
    root: Path,
    repeats: int = 5,
    tasks: tuple[str, ...] = ("classification", "regression"),
    frameworks: tuple[str, ...] = ("pytorch", "tensorflow"),
    epochs: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Both tasks x both frameworks x `repeats`; pytorch ~30% faster on classification, tensorflow
    better validation MSE on regression."""
    jobs: list[tuple[JobSpec, RunReport | str | None]] = []
    for task in tasks:
        for r in range(repeats):
            for fw in frameworks:
                spec = make_spec(fw, task, r, epochs=epochs)
                if task == "classification":
                    report = make_report(spec, epoch_seconds=0.7 if fw == "pytorch" else 1.0)
                else:
                    report = make_report(
                        spec, epoch_seconds=0.01, final_val=0.34 if fw == "pytorch" else 0.21
                    )
                jobs.append((spec, report))
    return write_run(root, jobs, meta)
