"""Integration fixtures: real runner virtualenvs (built by `make test`), real prepared data."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator import envs
from runners import datasets, module_for
from schemas import JobSpec, RunReport

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunnerResult:
    returncode: int
    stderr: str
    report: RunReport | None


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared once, read by every runner: the orchestrator's role (fairness rule 1)."""
    directory = tmp_path_factory.mktemp("data")
    for name in ("petrol", "mnist-5k"):
        datasets.prepare(name, directory)
    return directory


@pytest.fixture
def run_runner(tmp_path: Path, data_dir: Path):
    def run(spec: JobSpec | str, framework: str | None = None, timeout: float = 600) -> RunnerResult:
        framework = framework or spec.framework  # type: ignore[union-attr]
        python = envs.venv_python(framework)
        if not envs.is_current(framework):
            pytest.fail(f"runner venv for {framework} missing or stale: run `make runners`")
        spec_path = tmp_path / f"{framework}-spec.json"
        spec_path.write_text(spec if isinstance(spec, str) else spec.model_dump_json())
        out = tmp_path / f"{framework}-report.json"
        proc = subprocess.run(
            [
                str(python),
                "-m",
                module_for(framework),
                "--spec",
                str(spec_path),
                "--out",
                str(out),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        report = RunReport.model_validate(json.loads(out.read_text())) if out.exists() else None
        return RunnerResult(proc.returncode, proc.stderr, report)

    return run
