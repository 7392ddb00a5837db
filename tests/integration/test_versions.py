"""A version matrix end to end on the venv backend: two Keras releases on JAX, each in its own
environment (locked and built on first use), compared as two arms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from orchestrator import envs
from schemas import JobSpec, RunReport

pytestmark = [pytest.mark.frameworks, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ("3.14.0", "3.15.1")
SUITE = f"""
schema_version = 1
name = "versions"
frameworks = ["keras-jax"]
versions = {{ keras-jax = {json.dumps(list(VERSIONS))} }}
repeats = 1
seed = 1
intra_op_threads = 1
job_timeout_seconds = 300

[[tasks]]
name = "regression"
task = "regression"
datasets = ["petrol"]
layers = [{{ units = 8, activation = "relu" }}, {{ units = 1, activation = "linear" }}]
optimizer = {{ name = "adam", learning_rate = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7 }}
batch_size = 32
epochs = 2
"""


def test_two_keras_releases_are_two_arms_each_in_its_own_environment(tmp_path: Path) -> None:
    suite, out = tmp_path / "versions.toml", tmp_path / "run"
    suite.write_text(SUITE)
    cmd = [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(suite), "--out", str(out),
           "--gpus", "none", "--backend", "venv"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 jobs: 2 ok" in proc.stdout, proc.stdout
    specs = {p.stem: JobSpec.model_validate_json(p.read_text()) for p in (out / "specs").glob("*.json")}
    reports = {p.stem: RunReport.model_validate_json(p.read_text()) for p in (out / "reports").glob("*.json")}
    assert sorted(s.framework_version or "" for s in specs.values()) == list(VERSIONS)
    for spec_id, report in reports.items():
        version = specs[spec_id].framework_version
        assert report.status == "ok" and report.env is not None
        assert report.env.framework_version.startswith(f"keras {version} "), report.env.framework_version
        assert report.env.lock_hash == envs.lock_hash(f"keras-jax@{version}")  # that version's own lock
    arms = set(pd.read_csv(out / "metrics.csv")["arm"])
    assert arms == {f"keras-jax@{v}" for v in VERSIONS}
    meta = json.loads((out / "run.json").read_text())
    assert {f"keras-jax@{v}" for v in VERSIONS} <= set(meta["runners"])


def test_a_runner_refuses_a_spec_for_another_version(tmp_path: Path) -> None:
    """A 3.14.0 job given to the 3.15.1 environment stops before training, exit 2, one line."""
    from tests.jobs import make_spec

    spec = make_spec(framework="keras-jax").model_copy(update={"framework_version": VERSIONS[0]})
    path = tmp_path / "spec.json"
    path.write_text(spec.model_dump_json())
    python = envs.ensure(f"keras-jax@{VERSIONS[1]}", log=lambda _: None)
    cmd = [str(python), "-m", "runners.keras_jax", "--spec", str(path), "--out", str(tmp_path / "r.json")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert f"keras {VERSIONS[0]}" in proc.stderr and f"has {VERSIONS[1]}" in proc.stderr, proc.stderr
    assert not (tmp_path / "r.json").exists()
