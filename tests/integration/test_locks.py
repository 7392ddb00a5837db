"""A built runner venv holds exactly its lock: every pinned distribution at its pinned version and
nothing else but the venv's own pip and setuptools (read through importlib.metadata in the venv)."""

from __future__ import annotations

import json
import subprocess

import pytest

from orchestrator import envs
from runners import FRAMEWORKS

pytestmark = pytest.mark.frameworks

INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_venv_holds_exactly_its_lock(framework: str):
    if not envs.is_current(framework):
        pytest.fail(f"runner venv for {framework} missing or stale: run `make runners`")
    # -I: the venv's own site-packages only, not the checkout's bench.egg-info beside the cwd
    python = str(envs.venv_python(framework))
    out = subprocess.run([python, "-I", "-c", INSTALLED], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    installed = {envs.normalize(name): version for name, version in json.loads(out.stdout).items()}
    locked = {pin.name: pin.version for pin in envs.read_pins(envs.lock_file(framework))}
    assert {name: installed.get(name) for name in locked} == locked
    assert set(installed) - set(locked) <= {"pip", "setuptools"}  # what `python -m venv` brings
