"""Version matrices: a suite's `versions`, their arms and labels, spec ids, the runner's check and the
locks and venvs each version gets (no network: uv is replaced where a lock would be compiled)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import envs
from orchestrator.backends import select_backend
from orchestrator.backends.docker import VERSIONS_ON_VENV, DockerBackendError
from orchestrator.backends.venv import VenvBackend
from orchestrator.plan import DatasetChoice, PlanError, apply_options, load_suite, plan
from runners import harness
from schemas.job import Device
from schemas.suite import Arm

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
TWO = FAKE_SUITE.read_text().replace('frameworks = ["fake"]', 'frameworks = ["fake", "keras-jax"]')
MATRIX = 'versions = { keras-jax = ["3.14.0", "3.15.1"] }'


def _suite(tmp_path: Path, lines: str, text: str = TWO) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text.replace("repeats = 2", f"repeats = 2\n{lines}", 1))
    return path


def _choices() -> dict[str, DatasetChoice]:
    return {"classification": DatasetChoice("mnist-5k", "test"), "regression": DatasetChoice("petrol", "test")}


def test_a_version_appends_to_the_arm_label() -> None:
    assert Arm("keras-jax", "none", "3.14.0").label == "keras-jax@3.14.0"
    assert Arm("keras-jax", "jit", "3.14.0").label == "keras-jax+jit@3.14.0"
    assert Arm("keras-jax").label == "keras-jax"  # no version: as before


def test_a_framework_with_versions_gets_one_arm_per_version_and_compile_mode(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, f'{MATRIX}\ncompile = ["none", "jit"]'))
    assert [a.label for a in suite.arms] == [
        "fake", "fake+jit",
        "keras-jax@3.14.0", "keras-jax+jit@3.14.0", "keras-jax@3.15.1", "keras-jax+jit@3.15.1",
    ]  # fmt: skip
    assert suite.baseline_arm == "fake"
    versioned = load_suite(_suite(tmp_path, f'{MATRIX}\nbaseline = "keras-jax@3.14.0"'))
    assert versioned.baseline_arm == "keras-jax@3.14.0"
    assert "versions" not in load_suite(FAKE_SUITE).model_dump(mode="json")  # suites without it: unchanged


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('versions = { jax = ["0.10.2"] }', "versions.jax: 'jax' is not in frameworks (fake, keras-jax)"),
        ('versions = { fake = ["1.0"] }', "versions.fake: 'fake' has no framework package to vary"),
        ("versions = { keras-jax = [] }", "versions.keras-jax: is empty"),
        ('versions = { keras-jax = ["3.14.0", "3.14.0"] }', "versions.keras-jax[1]: '3.14.0' is listed twice"),
        ('versions = { keras-jax = ["../../x"] }', "versions.keras-jax[0]: '../../x' is not a plain release"),
        ('versions = { keras-jax = ["3.14; rm -rf /"] }', "versions.keras-jax[0]"),
        ('versions = { keras-jax = ["3.14.0"] }\nbaseline = "keras-jax"', "baseline: 'keras-jax' names no arm"),
    ],
)
def test_a_bad_versions_field_is_one_line(tmp_path: Path, lines: str, expected: str) -> None:
    with pytest.raises(PlanError) as info:
        load_suite(_suite(tmp_path, lines))
    message = str(info.value)
    assert expected in message and "\n" not in message and len(message) < 400, message


def test_each_version_has_its_own_spec_ids_and_others_keep_theirs(tmp_path: Path) -> None:
    plain = plan(load_suite(_suite(tmp_path, "")), _choices(), Device())
    matrix = plan(load_suite(_suite(tmp_path, MATRIX)), _choices(), Device())
    assert [s.runner_env for s in matrix[:3]] == ["fake", "keras-jax@3.14.0", "keras-jax@3.15.1"]
    assert [Arm.of(s).label for s in matrix[:3]] == ["fake", "keras-jax@3.14.0", "keras-jax@3.15.1"]
    assert len({s.spec_id for s in matrix}) == len(matrix)
    # Without a version the field is left out of the JSON: every spec id is the one it was.
    assert "framework_version" not in plain[0].canonical_json()
    assert {s.spec_id for s in plain if s.framework == "fake"} == {s.spec_id for s in matrix if s.framework == "fake"}
    assert json.loads(matrix[1].canonical_json())["framework_version"] == "3.14.0"


def test_narrowing_frameworks_drops_their_versions(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, f'{MATRIX}\nbaseline = "keras-jax@3.15.1"'))
    narrowed = apply_options(suite, frameworks=["fake"])
    assert narrowed.versions == {} and [a.label for a in narrowed.arms] == ["fake"]
    assert narrowed.baseline_arm == "fake"


def test_version_locks_and_venvs_are_named_by_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_VENV_DIR", str(tmp_path))
    assert envs.split_env("keras-jax@3.14.0") == ("keras-jax", "3.14.0")
    assert envs.lock_file("keras-jax@3.14.0") == tmp_path / "locks" / "keras-jax@3.14.0.txt"
    assert envs.venv_dir("keras-jax@3.14.0") == tmp_path / "keras-jax@3.14.0"
    assert envs.venv_dir("keras-jax@3.14.0", "cuda") == tmp_path / "keras-jax-cuda@3.14.0"
    # The default keeps today's paths exactly.
    assert envs.lock_file("keras-jax") == ROOT / "images" / "keras-jax" / "requirements.txt"
    assert envs.venv_dir("keras-jax") == tmp_path / "keras-jax"
    text = envs.version_input("keras-jax", "3.14.0")
    assert "keras==3.14.0" in text and "keras==3.15" not in text and "jax==0.10.2" in text
    assert "torch==2.12.0+cpu" in envs.version_input("pytorch", "2.12.0+cpu")
    assert "tensorflow-cpu==2.20.0" in envs.version_input("tensorflow", "2.20.0")


def test_a_version_lock_is_compiled_once_from_the_frameworks_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_VENV_DIR", str(tmp_path))
    calls: list[tuple[Path, str]] = []

    def compile_lock(source: Path, output: Path, extra: object = ()) -> None:
        calls.append((source, output.read_text()))  # seeded with the framework's own pins
        output.write_text(output.read_text().replace("keras==3.15.1", "keras==3.14.0"))

    monkeypatch.setattr(envs, "compile_lock", compile_lock)
    lock = envs.ensure_lock("keras-jax@3.14.0", log=lambda _: None)
    assert lock == tmp_path / "locks" / "keras-jax@3.14.0.txt" and "keras==3.14.0" in lock.read_text()
    assert calls[0][1] == envs.lock_file("keras-jax").read_text()
    envs.ensure_lock("keras-jax@3.14.0", log=lambda _: None)
    assert len(calls) == 1  # cached while its input is the same
    (tmp_path / "locks" / "keras-jax@3.14.0.in").write_text("stale\n")  # the framework's input changed
    envs.ensure_lock("keras-jax@3.14.0", log=lambda _: None)
    assert len(calls) == 2


def test_the_runner_refuses_another_version_than_its_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.jobs import make_spec

    spec = make_spec(framework="keras-jax").model_copy(update={"framework_version": "3.14.0"})
    monkeypatch.setattr(harness.metadata, "version", lambda name: {"keras": "3.15.1"}[name])
    why = harness.version_mismatch(spec)
    assert why is not None and "keras 3.14.0" in why and "has 3.15.1" in why
    monkeypatch.setattr(harness.metadata, "version", lambda name: "3.14.0")
    assert harness.version_mismatch(spec) is None
    assert harness.version_mismatch(spec.model_copy(update={"framework_version": None})) is None


def test_docker_refuses_a_version_matrix_and_auto_picks_venv() -> None:
    with pytest.raises(DockerBackendError, match="version matrices run on the venv backend"):
        select_backend("docker", ["keras-jax"], lambda _: None, versions=True)
    said: list[str] = []
    with select_backend("auto", ["keras-jax"], said.append, versions=True) as backend:
        assert isinstance(backend, VenvBackend)
    assert VERSIONS_ON_VENV in said[0]


def test_results_group_by_version_and_compile_table_pairs_within_a_version(tmp_path: Path) -> None:
    from orchestrator.results.compile_time import compile_rows
    from orchestrator.results.tidy import final_frame, load_run, metrics_frame
    from tests.unit._factories import write_run
    from tests.unit.test_arm_results import arm_report, arm_spec

    jobs = []
    for r in range(3):
        for version in ("2.12.0+cpu", "2.13.0+cpu"):
            for mode in ("none", "jit"):
                spec = arm_spec("pytorch", mode, r).model_copy(update={"framework_version": version})
                jobs.append((spec, arm_report(spec)))
    metrics = metrics_frame(load_run(write_run(tmp_path / "run", jobs)))
    assert set(metrics["arm"]) == {"pytorch@2.12.0+cpu", "pytorch+jit@2.12.0+cpu",
                                   "pytorch@2.13.0+cpu", "pytorch+jit@2.13.0+cpu"}  # fmt: skip
    assert set(metrics["version"]) == {"2.12.0+cpu", "2.13.0+cpu"}
    rows = {r.framework: r for r in compile_rows(metrics, final_frame(metrics))}
    assert set(rows) == {"pytorch@2.12.0+cpu", "pytorch@2.13.0+cpu"}
    assert (rows["pytorch@2.13.0+cpu"].none_arm, rows["pytorch@2.13.0+cpu"].jit_arm) == (
        "pytorch@2.13.0+cpu", "pytorch+jit@2.13.0+cpu"
    )
