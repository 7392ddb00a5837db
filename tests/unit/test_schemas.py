import json

import pytest
from pydantic import ValidationError

from schemas import JobSpec, RunReport
from schemas.errors import describe, first_error
from schemas.export import EXPORTED, JSON_DIR, render
from schemas.suite import Suite
from tests.jobs import make_spec, spec_dict


def test_spec_round_trips_through_json_with_a_stable_content_id():
    spec = make_spec()
    again = JobSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert again.spec_id == spec.spec_id
    assert spec.spec_id.startswith("pytorch-petrol-")


def test_spec_id_changes_with_any_setting():
    base = make_spec()
    assert make_spec(batch_size=16).spec_id != base.spec_id
    assert JobSpec.model_validate({**spec_dict(), "seed": 8}).spec_id != base.spec_id


def test_specs_are_frozen():
    spec = make_spec()
    with pytest.raises(ValidationError):
        spec.seed = 3  # type: ignore[misc]


def _error(doc: dict) -> str:
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate_json(json.dumps(doc))
    return describe(info.value, "job.json")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(colour="red"), "colour: Extra inputs are not permitted"),
        (
            lambda d: d["workload"].update(epochs=-1),
            "workload.epochs: Input should be greater than or equal to 1",
        ),
        (lambda d: d["workload"].update(dataset="imagenet"), "workload.dataset"),
        (lambda d: d["workload"]["layers"][-1].update(units=3), "needs 1 outputs"),
        (lambda d: d["workload"]["layers"][-1].update(activation="relu"), "must be 'linear'"),
        (lambda d: d["workload"].update(loss="cross_entropy"), "does not fit a regression task"),
        (
            lambda d: d["workload"]["optimizer"].pop("epsilon"),
            "workload.optimizer.adam.epsilon: Field required",
        ),
        (
            lambda d: d["workload"].update(batch_size="32"),
            "workload.batch_size: Input should be a valid integer",
        ),
        (lambda d: d.update(framework="mxnet"), "framework"),
        (lambda d: d["workload"].update(layers=[]), "workload.layers"),
        (lambda d: d.update(device={"kind": "cpu", "gpu_ids": [0]}), "gpu_ids must be empty"),
        (lambda d: d["workload"]["layers"][0].update(units=0), "workload.layers[0].units: Input should be"),
        (lambda d: d["workload"]["layers"][-1].update(units=3), "workload.layers[-1].units: is 3 but petrol"),
        (
            lambda d: d["workload"]["optimizer"].update(learning_rate=float("nan")),
            "workload.optimizer.adam.learning_rate: Input should be a finite number, got nan",
        ),
        (lambda d: d["workload"]["optimizer"].pop("name"), "workload.optimizer.name: Field required"),
        (
            lambda d: d["timeouts"].update(job_seconds=float("inf")),
            "timeouts.job_seconds: Input should be a finite",
        ),
        (lambda d: d["workload"].update(max_train_samples=10**24), "workload.max_train_samples"),
    ],
)
def test_malformed_specs_name_the_field(mutate, expected):
    doc = spec_dict()
    mutate(doc)
    message = _error(doc)
    assert message.startswith("job.json: ")
    assert expected in message


def test_exported_json_schemas_are_current():
    for name, model in EXPORTED.items():
        path = JSON_DIR / f"{name}.schema.json"
        assert path.read_text() == render(model), f"{path} is stale: run `make schemas`"


def test_report_rejects_non_finite_metrics():
    doc = {
        "spec_id": "x",
        "framework": "pytorch",
        "status": "ok",
        "started_at": "t",
        "finished_at": "t",
        "metric": "mse",
        "epochs": [
            {
                "epoch": 1,
                "train_seconds": 1.0,
                "cumulative_seconds": 1.0,
                "train_loss_running": float("nan"),
                "train_loss": 1.0,
                "train_metric": 1.0,
                "val_loss": 1.0,
                "val_metric": 1.0,
            }
        ],
    }
    with pytest.raises(ValidationError, match="diverged"):
        RunReport.model_validate(doc)


def test_a_misspelt_key_is_named_as_written_not_as_a_missing_field():
    doc = spec_dict()
    doc["workload"]["batchsize"] = doc["workload"].pop("batch_size")
    message = _error(doc)
    assert message == "job.json: workload.batchsize: unknown field; did you mean 'batch_size'?"


def test_the_real_fault_comes_before_missing_fields():
    doc = spec_dict()
    del doc["seed"], doc["threads"]
    doc["workload"]["epochs"] = 0
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate_json(json.dumps(doc))
    assert first_error(info.value) == (
        "workload.epochs: Input should be greater than or equal to 1, got 0 (+2 more)"
    )
    assert describe(info.value, "job.json").endswith("seed: Field required; threads: Field required")


def test_a_failed_item_does_not_also_report_its_list_as_empty():
    with pytest.raises(ValidationError) as info:
        Suite.model_validate({"name": "s", "frameworks": ["fake"], "repeats": 1, "seed": 0, "tasks": [1]})
    message = describe(info.value, "s.toml")
    assert message.startswith("s.toml: tasks[0]: Input should be a valid dictionary")
    assert "at least 1 item" not in message


def test_an_unknown_optimizer_names_the_choices():
    doc = spec_dict()
    doc["workload"]["optimizer"]["name"] = "adamw"
    assert "workload.optimizer.name: is 'adamw'; expected one of 'adam', 'sgd'" in _error(doc)


def test_too_deep_json_is_one_line():
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate_json(deep)
    message = describe(info.value, "job.json")
    assert "recursion limit exceeded" in message and "\n" not in message
