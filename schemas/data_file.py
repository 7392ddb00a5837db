"""Your own data, as a suite task names it: one CSV or .npz file, or a pair of IDX files.

    dataset = { path = "prices.csv", target = "price" }   a CSV with a header; `target`: the column to predict
    dataset = { path = "arrays.npz" }                       x_train, y_train [, x_val, y_val]
    dataset = { images = "images-idx3-ubyte.gz", labels = "labels-idx1-ubyte.gz" }   IDX, as MNIST

Paths are relative to the suite file. `bench` reads the files when it loads the suite and fills in
`facts` (format, sha256 of each file, sizes; given ones must match: a pin). Jobs carry the facts,
never the paths: a job's identity is the data's content (a changed file gives new spec ids), not
where the file lies on one machine.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated

from pydantic import Field, model_validator

from schemas.job import DataFacts, DataFormat, Strict

FORMAT_BY_SUFFIX: dict[str, DataFormat] = {".csv": "csv", ".npz": "npz"}
FilePath = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


class DataFile(Strict):
    """One user data set: `path` (a .csv with `target`, or a .npz), or `images` and `labels` (IDX)."""

    path: FilePath | None = None
    target: str | None = Field(default=None, min_length=1, max_length=1024)
    images: FilePath | None = None
    labels: FilePath | None = None
    facts: DataFacts | None = None  # filled in by orchestrator.plan.load_suite

    @model_validator(mode="after")
    def _one_shape(self) -> DataFile:
        if self.path is not None:
            if self.images is not None or self.labels is not None:
                raise ValueError("give `path` (a .csv or .npz) or `images` and `labels` (IDX), not both")
            if self.format is None:
                raise ValueError(
                    f"path {self.path!r} must end in .csv or .npz (IDX files: images and labels)"
                )
            if (self.format == "csv") != (self.target is not None):
                raise ValueError(
                    "a .csv needs `target` (the column to predict)"
                    if self.format == "csv"
                    else "`target` is for a .csv; a .npz holds y_train itself"
                )
        elif self.images is None or self.labels is None:
            raise ValueError("give `path` (a .csv or .npz) or both `images` and `labels` (IDX files)")
        elif self.target is not None:
            raise ValueError("`target` is for a .csv; IDX labels are the target")
        elif PurePath(self.images).name == PurePath(self.labels).name:
            raise ValueError("`images` and `labels` must be files of different names")
        return self

    @property
    def format(self) -> DataFormat | None:
        if self.path is None:
            return "idx"
        return FORMAT_BY_SUFFIX.get(PurePath(self.path).suffix.lower())

    @property
    def files(self) -> dict[str, str]:
        """Role ("path", "images", "labels") -> path, as given."""
        given = {"path": self.path, "images": self.images, "labels": self.labels}
        return {role: path for role, path in given.items() if path is not None}

    @property
    def display(self) -> str:
        """The file(s) as a user recognises them in a message."""
        return " + ".join(PurePath(p).name for p in self.files.values())

    def dataset_name(self) -> str | None:
        """The data set's name in jobs and tables, once the facts are known."""
        if self.facts is None:
            return None
        return self.facts.dataset_name(PurePath(self.path or self.images or "data").name)
