"""Spec factories shared by the tests: the paper's two workloads, shrinkable."""

from __future__ import annotations

from typing import Any

from schemas import JobSpec

PAPER_LAYERS = {
    "classification": [(128, "relu"), (128, "relu"), (10, "linear")],
    "regression": [(100, "relu"), (50, "relu"), (25, "relu"), (1, "linear")],
}
DATASET = {"classification": "mnist-5k", "regression": "petrol"}


def spec_dict(framework: str = "pytorch", task: str = "regression", **workload: Any) -> dict[str, Any]:
    w: dict[str, Any] = {
        "task": task,
        "dataset": DATASET[task],
        "layers": [{"units": u, "activation": a} for u, a in PAPER_LAYERS[task]],
        "loss": "cross_entropy" if task == "classification" else "mse",
        "optimizer": {"name": "adam", "learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        "batch_size": 32,
        "epochs": 2,
    }
    w.update(workload)
    return {
        "framework": framework,
        "workload": w,
        "seed": 7,
        "repeat": 0,
        "threads": {"intra_op": 1, "inter_op": 1},
        "timeouts": {"job_seconds": 600},
    }


def make_spec(framework: str = "pytorch", task: str = "regression", **workload: Any) -> JobSpec:
    return JobSpec.model_validate(spec_dict(framework, task, **workload))
