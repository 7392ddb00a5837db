"""A user's own data file (schemas/data_file.py, runners/datasets/user_data.py): each format read,
split and standardized by the petrol rules, its facts in every job's identity, its suite shape."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from orchestrator import plan as planning
from runners import datasets
from runners.datasets import DatasetError, sources_csv, user_data
from schemas.data_file import DataFile
from schemas.datasets import CATALOG, user_dataset_info
from schemas.job import Device, Workload
from schemas.suite import SuiteTask

ROOT = Path(__file__).resolve().parents[2]
TASK = {
    "name": "mine",
    "layers": [{"units": 4, "activation": "relu"}, {"units": 1, "activation": "linear"}],
    "optimizer": {"name": "adam", "learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "batch_size": 4,
    "epochs": 2,
}


def write_csv(path: Path, rows: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = x @ [1.0, -2.0, 0.5] + 3
    lines = ["a,b,c,price", *(",".join(f"{v:.6f}" for v in [*r, t]) for r, t in zip(x, y, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_npz(path: Path, rows: int = 30, classes: int = 3, val: bool = False) -> Path:
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.normal(size=(rows, 2, 2)), "y_train": np.arange(rows) % classes}
    if val:
        arrays |= {"x_val": rng.normal(size=(6, 2, 2)), "y_val": np.arange(6) % classes}
    np.savez(path, **arrays)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(folder: Path, n: int = 25) -> tuple[Path, Path]:
    rng = np.random.default_rng(2)
    images, labels = folder / "images-idx3-ubyte.gz", folder / "labels-idx1-ubyte"
    images.write_bytes(gzip.compress(idx_bytes(rng.integers(0, 256, size=(n, 4, 3)))))
    labels.write_bytes(idx_bytes(np.arange(n) % 2))  # not gzipped: both forms are read
    return images, labels


# ---------------------------------------------------------------- each format


def test_csv_regression_is_split_and_standardized_by_the_petrol_rules(tmp_path):
    path = write_csv(tmp_path / "prices.csv")
    arrays, meta, facts = user_data.build(DataFile(path=str(path), target="price"), "regression")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    train, val = sources_csv.split_indices(len(table))
    x, y = table[:, :3], table[:, 3:]
    expected_x, _, _ = sources_csv.standardize(x, train)
    expected_y, mean, std = sources_csv.standardize(y, train)
    np.testing.assert_array_equal(arrays["x_train"], expected_x[train])
    np.testing.assert_array_equal(arrays["y_val"], expected_y[val])
    assert (len(arrays["x_train"]), len(arrays["x_val"])) == (16, 4)
    assert meta["split"] == sources_csv.SPLIT
    assert meta["standardization"]["target"] == {
        "column": "price",
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    assert meta["standardization"]["features"]["columns"] == ["a", "b", "c"]
    assert (facts.format, facts.n_features, facts.n_outputs, facts.target) == ("csv", 3, 1, "price")
    assert meta["name"] == facts.dataset_name("prices.csv") and meta["name"].startswith("prices-r3x1-")


def test_csv_classification_keeps_integer_labels_and_counts_the_classes(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("f1,f2,species\n" + "".join(f"{i},{i % 5},{i % 3}\n" for i in range(12)))
    arrays, meta, facts = user_data.build(DataFile(path=str(path), target="species"), "classification")
    assert arrays["y_train"].dtype == np.int64 and "target" not in meta["standardization"]
    assert facts.n_outputs == 3 and CATALOG[meta["name"]].n_outputs == 3


def test_npz_without_val_is_split_and_images_are_flattened(tmp_path):
    path = write_npz(tmp_path / "arrays.npz", rows=30, classes=3)
    arrays, meta, facts = user_data.build(DataFile(path=str(path)), "classification")
    assert arrays["x_train"].shape == (24, 4) and arrays["x_val"].shape == (6, 4)
    assert meta["split"] == sources_csv.SPLIT and (facts.n_features, facts.n_outputs) == (4, 3)


def test_npz_with_val_keeps_its_split_and_standardizes_on_train_only(tmp_path):
    path = write_npz(tmp_path / "arrays.npz", rows=30, classes=3, val=True)
    arrays, meta, _ = user_data.build(DataFile(path=str(path)), "classification")
    assert meta["split"] == user_data.SPLIT_GIVEN
    assert (len(arrays["x_train"]), len(arrays["x_val"])) == (30, 6)
    np.testing.assert_allclose(arrays["x_train"].mean(axis=0), 0, atol=1e-6)
    with np.load(path) as raw:  # the validation rows use the training rows' statistics
        x_train = raw["x_train"].reshape(30, -1)
        expected = (raw["x_val"].reshape(6, -1) - x_train.mean(axis=0)) / x_train.std(axis=0)
    np.testing.assert_allclose(arrays["x_val"], expected, rtol=1e-5)


def test_idx_pair_gzipped_or_not(tmp_path):
    images, labels = write_idx(tmp_path)
    arrays, meta, facts = user_data.build(DataFile(images=str(images), labels=str(labels)), "classification")
    assert arrays["x_train"].shape == (20, 12) and (facts.format, facts.n_outputs) == ("idx", 2)
    assert set(meta["raw_sha256"]) == {images.name, labels.name}


def test_a_prepared_user_file_loads_under_the_contract_and_only_from_its_registered_source(tmp_path):
    source = DataFile(path=str(write_csv(tmp_path / "prices.csv")), target="price")
    _, meta, _ = user_data.build(source, "regression")
    with pytest.raises(DatasetError, match="run the suite again"):  # a runner never reads the file
        datasets.prepare(meta["name"], tmp_path / "data")
    user_data.register(meta["name"], source)
    loaded = datasets.load(datasets.prepare(meta["name"], tmp_path / "data"))
    assert loaded.meta["raw_sha256"] == {"prices.csv": meta["raw_sha256"]["prices.csv"]}
    assert loaded.x_train.shape == (16, 3)


# ---------------------------------------------------------------- identity: names, facts, spec ids


def test_a_user_dataset_name_says_its_task_and_sizes():
    info = user_dataset_info("my-prices-r4x1-0123456789ab")
    assert info is not None and (info.task, info.n_features, info.n_outputs) == ("regression", 4, 1)
    assert user_dataset_info("petrol") is None and user_dataset_info("Prices-r4x1-0123456789ab") is None
    assert "my-prices-r4x1-0123456789ab" in CATALOG and list(CATALOG) == [
        "mnist",
        "fashion-mnist",
        "mnist-5k",
        "petrol",
    ]


def _spec_ids(suite_path: Path) -> list[str]:
    suite = planning.load_suite(suite_path)
    choices = {t.name: planning.DatasetChoice(planning.task_datasets(t)[0], "test") for t in suite.tasks}
    return [s.spec_id for s in planning.plan(suite, choices, Device(), cores=1)]


def test_a_changed_file_gives_new_spec_ids_and_an_unchanged_one_the_same(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(user_suite('{ path = "prices.csv", target = "price" }'))
    write_csv(tmp_path / "prices.csv", seed=0)
    first = _spec_ids(suite)
    assert _spec_ids(suite) == first  # the same file, read again: the same jobs
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "suite.toml").write_text(suite.read_text())
    (moved / "prices.csv").write_bytes((tmp_path / "prices.csv").read_bytes())
    assert _spec_ids(moved / "suite.toml") == first  # where the file lies is not the job's identity
    write_csv(tmp_path / "prices.csv", seed=1)
    changed = _spec_ids(suite)
    assert not set(changed) & set(first)


def test_built_in_spec_ids_do_not_carry_a_data_file_field():
    workload = planning._workload(
        planning.load_suite(ROOT / "tests" / "suites" / "fake.toml").tasks[1], "petrol", "t"
    )
    assert "data_file" not in workload.model_dump(mode="json")


def test_a_workload_whose_name_does_not_match_its_facts_is_refused(tmp_path):
    source = DataFile(path=str(write_csv(tmp_path / "prices.csv")), target="price")
    _, meta, facts = user_data.build(source, "regression")
    fields = {**TASK, "task": "regression", "loss": "mse"}
    fields.pop("name")
    assert (
        Workload.model_validate({**fields, "dataset": meta["name"], "data_file": facts}).info.n_features == 3
    )
    other = meta["name"][:-12] + "0" * 12
    with pytest.raises(ValidationError, match="does not name data_file"):
        Workload.model_validate({**fields, "dataset": other, "data_file": facts})
    with pytest.raises(ValidationError, match="is required: dataset names a user data file"):
        Workload.model_validate({**fields, "dataset": meta["name"]})


# ---------------------------------------------------------------- the suite's shape


def user_suite(dataset: str, task: str = "regression", units: int = 1) -> str:
    return f"""
schema_version = 1
name = "mine"
frameworks = ["fake"]
repeats = 1
seed = 1
intra_op_threads = 1
job_timeout_seconds = 60

[[tasks]]
name = "mine"
task = "{task}"
dataset = {dataset}
layers = [{{ units = 4, activation = "relu" }}, {{ units = {units}, activation = "linear" }}]
optimizer = {{ name = "adam", learning_rate = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7 }}
batch_size = 4
epochs = 2
"""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"datasets": ["petrol"], "dataset": {"path": "p.csv", "target": "y"}}, "not both"),
        ({}, "missing: give `datasets`"),
        ({"dataset": {"path": "p.csv"}}, "needs `target`"),
        ({"dataset": {"path": "p.npz", "target": "y"}}, "`target` is for a .csv"),
        ({"dataset": {"path": "p.parquet"}}, "must end in .csv or .npz"),
        ({"dataset": {"images": "i.gz"}}, "both `images` and `labels`"),
        ({"dataset": {"path": "p.npz", "images": "i", "labels": "l"}}, "not both"),
    ],
)
def test_a_task_gives_either_built_in_names_or_one_data_file(fields, message):
    with pytest.raises(ValidationError, match=message):
        SuiteTask.model_validate({**TASK, "task": "regression", **fields})


def test_paths_are_relative_to_the_suite_and_facts_are_filled_in(tmp_path):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "prices.csv")
    suite = tmp_path / "suite.toml"
    suite.write_text(user_suite('{ path = "data/prices.csv", target = "price" }'))
    task = planning.load_suite(suite).tasks[0]
    assert task.dataset is not None and task.dataset.facts is not None
    assert task.dataset.path == str((tmp_path / "data" / "prices.csv").absolute())
    assert task.dataset.facts.sha256 == user_data.build(task.dataset, "regression")[2].sha256


def test_facts_written_in_the_suite_are_a_pin(tmp_path):
    write_csv(tmp_path / "prices.csv")
    suite = tmp_path / "suite.toml"
    suite.write_text(user_suite('{ path = "prices.csv", target = "price" }'))
    facts = planning.load_suite(suite).tasks[0].dataset.facts  # type: ignore[union-attr]
    assert facts is not None
    pinned = "{ " + ", ".join(f"{k} = {v!r}" for k, v in facts.model_dump().items() if k != "sha256")
    pinned = pinned.replace("'", '"') + ', sha256 = { "prices.csv" = "' + "0" * 64 + '" } }'
    suite.write_text(user_suite(f'{{ path = "prices.csv", target = "price", facts = {pinned} }}'))
    with pytest.raises(planning.PlanError, match="the suite pins"):
        planning.load_suite(suite)


def test_the_output_layer_must_match_the_number_of_classes(tmp_path):
    write_npz(tmp_path / "arrays.npz", classes=3)
    suite = tmp_path / "suite.toml"
    suite.write_text(user_suite('{ path = "arrays.npz" }', task="classification", units=4))
    with pytest.raises(planning.PlanError, match=r"layers\[-1\].units: is 4 but arrays.npz needs 3 outputs"):
        planning.load_suite(suite)


def test_quick_keeps_a_users_own_classification_data(tmp_path):
    write_npz(tmp_path / "arrays.npz", classes=3)
    suite = tmp_path / "suite.toml"
    suite.write_text(user_suite('{ path = "arrays.npz" }', task="classification", units=3))
    quick = planning.apply_options(planning.load_suite(suite), quick=True)
    assert quick.tasks[0].dataset is not None and quick.tasks[0].datasets == ()
