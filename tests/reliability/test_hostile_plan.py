"""Hostile suites, options and output paths: exit 2, one line naming the file and the field, and
nothing written — no run directory, no `.tmp` — whatever stage would have noticed the fault."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from runners.datasets import DatasetError
from tests.jobs import make_spec

ROOT = Path(__file__).resolve().parents[2]
FAKE_SUITE = ROOT / "tests" / "suites" / "fake.toml"
TEMPLATE = FAKE_SUITE.read_text()
LAST_LAYER = '{ units = 10, activation = "linear" }'


def _edit(old: str, new: str) -> str:
    assert old in TEMPLATE, old
    return TEMPLATE.replace(old, new, 1)


# (suite text, what the one line must name besides the file)
HOSTILE_SUITES = {
    "last-layer-relu": (
        _edit(LAST_LAYER, '{ units = 10, activation = "relu" }'),
        "tasks[0].layers[-1].activation",
    ),
    "last-layer-7-units": (
        _edit(LAST_LAYER, '{ units = 7, activation = "linear" }'),
        "tasks[0].layers[-1].units: is 7 but mnist-5k needs 10 outputs",
    ),
    "second-dataset-of-another-task": (
        _edit('datasets = ["mnist-5k"]', 'datasets = ["mnist-5k", "petrol"]'),
        "tasks[0].datasets[1]: 'petrol' is a regression dataset",
    ),
    "max-train-samples-1e24": (
        _edit("max_train_samples = 300", "max_train_samples = 1000000000000000000000000"),
        "tasks[0].max_train_samples",
    ),
    "intra-op-threads-0": (_edit("intra_op_threads = 1", "intra_op_threads = 0"), "intra_op_threads"),
    "intra-op-threads-negative": (_edit("intra_op_threads = 1", "intra_op_threads = -1"), "intra_op_threads"),
    "intra-op-threads-1e30": (
        _edit("intra_op_threads = 1", "intra_op_threads = 1000000000000000000000000000000"),
        "intra_op_threads",
    ),
    "nan-learning-rate": (
        _edit("learning_rate = 1e-3", "learning_rate = nan"),
        "tasks[0].optimizer.adam.learning_rate: Input should be a finite number",
    ),
    "misspelt-key": (
        _edit("batch_size = 32", "batchsize = 32"),
        "tasks[0].batchsize: unknown field; did you mean 'batch_size'?",
    ),
    "infinite-timeout": (
        _edit("job_timeout_seconds = 60", "job_timeout_seconds = inf"),
        "job_timeout_seconds: Input should be a finite number",
    ),
    "duplicate-task-name": (_edit('name = "regression"', 'name = "classification"'), "tasks[1].name"),
    "duplicate-compile-mode": (
        _edit("repeats = 2", 'repeats = 2\ncompile = ["none", "jit", "none"]'),
        "compile[2]: 'none' is listed twice",
    ),
    "baseline-names-no-arm": (
        _edit("repeats = 2", 'repeats = 2\ncompile = ["none", "jit"]\nbaseline = "<b>pytorch+jit</b>"'),
        "baseline: '<b>pytorch+jit</b>' names no arm; the arms are fake, fake+jit",
    ),
    "versions-of-a-framework-not-run": (
        _edit("repeats = 2", 'repeats = 2\nversions = { jax = ["0.10.2"] }'),
        "versions.jax: 'jax' is not in frameworks (fake)",
    ),
    "versions-not-a-release": (
        _edit('frameworks = ["fake"]', 'frameworks = ["fake", "jax"]\nversions = { jax = ["0.10.2", "../../x"] }'),
        "versions.jax[1]: '../../x' is not a plain release",
    ),
    "versions-listed-twice": (
        _edit('frameworks = ["fake"]', 'frameworks = ["fake", "jax"]\nversions = { jax = ["0.10.2", "0.10.2"] }'),
        "versions.jax[1]: '0.10.2' is listed twice",
    ),
    "versions-empty": (
        _edit('frameworks = ["fake"]', 'frameworks = ["fake", "jax"]\nversions = { jax = [] }'),
        "versions.jax: is empty",
    ),
    "nested-5000-deep-array": ("x = " + "[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
    "nested-5000-deep-inline-table": (
        "x = " + "{a=" * 5000 + "1" + "}" * 5000,
        "nested deeper than 64 levels",
    ),
    "dotted-key-5000-deep": ("a" + ".a" * 5000 + " = 1", "nested deeper than 64 levels"),
}


def orchestrate(*args: object):
    return CliRunner().invoke(app, ["orchestrate", *map(str, args)])


def assert_refused_cleanly(result, tmp_path: Path, out: Path, *names: str) -> None:
    """Exit 2, one line naming everything in `names`, no traceback, nothing written."""
    text = result.output.replace("\n", "")  # rich wraps long lines; the message is one logical line
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for name in names:
        assert name in text, (name, result.output)
    assert [line for line in result.output.splitlines() if line.startswith("error:")], result.output
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("case", list(HOSTILE_SUITES))
def test_a_hostile_suite_is_refused_before_anything_is_written(tmp_path, case):
    text, field = HOSTILE_SUITES[case]
    suite = tmp_path / "suite.toml"
    suite.write_text(text)
    out = tmp_path / "run"
    result = orchestrate("--suite", suite, "--out", out)
    assert_refused_cleanly(result, tmp_path, out, str(suite), field)


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--epochs-override", str(10**30), "tasks[0].epochs: Input should be less than or equal to 10000"),
        ("--epochs-override", "20000", "tasks[0].epochs"),
        ("--repeats", "5000", "repeats: must be 'auto' or a whole number from 1 to 1000"),
        ("--frameworks", "mxnet", "frameworks[0]"),
        ("--frameworks", "fake,fake", "frameworks[1]: 'fake' is listed twice"),
    ],
)
def test_a_hostile_option_is_refused_naming_the_option(tmp_path, option, value, field):
    out = tmp_path / "run"
    result = orchestrate("--suite", FAKE_SUITE, "--out", out, option, value)
    assert_refused_cleanly(result, tmp_path, out, f"invalid option {option}", field)


def test_a_suite_that_loads_always_plans(tmp_path):
    """What load_suite accepts, plan() accepts: every task on every dataset it lists."""
    from orchestrator import plan as planning
    from schemas.job import Device

    suite = planning.load_suite(ROOT / "suites" / "paper.toml")
    for quick in (False, True):
        chosen = planning.apply_options(suite, quick=quick)
        for index in range(max(len(t.datasets) for t in chosen.tasks)):
            picks = {
                t.name: planning.DatasetChoice(t.datasets[min(index, len(t.datasets) - 1)], "test")
                for t in chosen.tasks
            }
            assert planning.plan(chosen, picks, Device())


def test_plan_errors_are_plan_errors_not_tracebacks():
    """Defensive: a suite that skipped load_suite (built in code) still fails as a PlanError."""
    from orchestrator import plan as planning
    from schemas.job import Device

    suite = planning.load_suite(FAKE_SUITE)
    # model_copy skips validation: the only way past the checks, as a future bug might find one.
    broken = suite.model_copy(update={"inter_op_threads": 0})
    picks = {t.name: planning.DatasetChoice(t.datasets[0], "test") for t in suite.tasks}
    with pytest.raises(planning.PlanError, match="inter_op"):
        planning.plan(broken, picks, Device())


def test_an_unavailable_dataset_leaves_no_run_directory(tmp_path, monkeypatch):
    """Found only while preparing data, after the run directory was made: execute removes it."""

    def offline(name: str, data_dir: Path, **kwargs: object) -> Path:
        raise DatasetError(f"{name}: no network here")

    import runners.datasets

    available = runners.datasets.prepare
    monkeypatch.setattr(runners.datasets, "prepare", offline)
    out = tmp_path / "run"
    result = orchestrate("--suite", FAKE_SUITE, "--out", out, "--tasks", "regression")
    assert_refused_cleanly(result, tmp_path, out, "regression", "petrol: no network here")
    # ... and the same --out then works as a fresh run would (no "has no job plan").
    monkeypatch.setattr(runners.datasets, "prepare", available)
    again = orchestrate("--suite", FAKE_SUITE, "--out", out, "--tasks", "regression", "--repeats", "1")
    assert again.exit_code == 0, again.output


# --- a runner given an --out it cannot write -----------------------------------------------------


def _run_fake(tmp_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "spec.json"
    spec.write_text(make_spec("fake").model_dump_json())
    return subprocess.run(
        [sys.executable, "-m", "runners.fake", "--spec", str(spec), "--out", str(out),
         "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _unwritable_outs(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    (tmp_path / "a-dir").mkdir()
    return {
        "a directory": tmp_path / "a-dir",
        "under a regular file": a_file / "report.json",
        "in a missing directory": tmp_path / "missing" / "report.json",
    }


@pytest.mark.parametrize("kind", ["a directory", "under a regular file", "in a missing directory"])
def test_a_runner_refuses_an_unwritable_out_before_training(tmp_path, kind):
    out = _unwritable_outs(tmp_path)[kind]
    proc = _run_fake(tmp_path, out)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]  # one line
    assert proc.stderr.startswith(f"error: cannot write report to {out}: ")
    assert "Traceback" not in proc.stderr
    assert '"event": "epoch"' not in proc.stdout  # it never trained
    assert not (tmp_path / "data").exists()  # ... nor even loaded data
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.probe"))


def test_a_runner_writes_a_writable_out(tmp_path):
    proc = _run_fake(tmp_path, tmp_path / "report.json")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report.json").exists()
    assert not list(tmp_path.rglob("*.probe"))


# --- bench schema --write onto a bad path ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["an existing file", "a path under a file"])
def test_schema_write_onto_a_bad_path_is_one_line(tmp_path, kind):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    target = a_file if kind == "an existing file" else a_file / "schemas"
    result = CliRunner().invoke(app, ["schema", "--write", str(target)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"cannot write schemas to {target}" in result.output.replace("\n", "")
    assert a_file.read_text() == "keep me"
    assert not list(tmp_path.rglob("*.tmp"))


def test_orchestrate_help_shows_the_ray_extra():
    result = CliRunner().invoke(app, ["orchestrate", "--help"])
    assert result.exit_code == 0
    assert "bench[ray]" in result.output.replace("\n", "")
