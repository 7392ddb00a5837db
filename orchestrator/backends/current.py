"""The current backend: runners in the orchestrator's own Python environment, frameworks as installed.

For the places where building a virtualenv or an image is slow or impossible: a Colab notebook, a
GPU image that ships PyTorch, JAX and TensorFlow preinstalled, a machine without network. Each job is
still its own process (same launch, timeout, process group and pinning as the venv backend), but the
frameworks are whatever this interpreter imports: there is no isolation between them, and every
report says so (env.isolation). The lock hash is the environment's installed distributions
(name==version, sha256), so `--resume` keeps a finished job only while nothing was installed or
upgraded in between.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from orchestrator.backends.venv import VenvBackend
from orchestrator.cuda_stack import DriverError
from runners.environment import env_hash
from schemas.common import ROOT

# The module each runner imports: a framework missing here is skipped with this reason.
_NEEDS = {"pytorch": "torch", "tensorflow": "tensorflow", "keras-jax": "jax", "keras-torch": "torch", "fake": "numpy"}


@cache
def installed_hash() -> str:
    """This environment's distributions, hashed as every report's env.env_hash is (the runner runs in
    this same environment, so the two agree)."""
    return env_hash()


class CurrentBackend(VenvBackend):
    name = "current"
    isolation = "none: the orchestrator's own Python environment (--backend current), frameworks as installed"

    def __init__(self, log: Callable[[str], None] = print, variant: str = "cpu"):
        super().__init__(log=log, variant=variant)

    def python_for(self, framework: str) -> Path:
        # A version ('keras-jax@3.14.0') is whatever is installed here: the runner refuses a mismatch.
        framework = framework.partition("@")[0]
        module = _NEEDS.get(framework, framework)
        if importlib.util.find_spec(module) is None:
            raise RuntimeError(f"--backend current: {module} is not installed in {sys.executable}")
        return Path(sys.executable)

    def pythonpath(self) -> str:
        """The project, then whatever this environment's PYTHONPATH adds (it is the environment)."""
        return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

    def cuda_majors(self, frameworks: Sequence[str]) -> dict[str, int | None]:
        """What the installed builds were compiled for, asked in a child process (importing a
        framework here would hold its CUDA context in the orchestrator for the whole run)."""
        probes = {"pytorch": "import torch; print(torch.version.cuda or '')",
                  "tensorflow": "import tensorflow as tf; print(tf.sysconfig.get_build_info().get('cuda_version', ''))"}  # fmt: skip
        majors: dict[str, int | None] = {}
        for fw in frameworks:
            if fw not in probes or importlib.util.find_spec(_NEEDS[fw]) is None:
                majors[fw] = None
                continue
            majors[fw] = _built_for(fw, probes[fw])
        return majors

    def environment_id(self, framework: str) -> str | None:
        return installed_hash()

    def describe(self, framework: str) -> dict[str, str]:
        return {
            "backend": "current",
            "python": str(self.python_for(framework)),
            "lock_hash": installed_hash(),
            "isolation": self.isolation,
        }


def _built_for(framework: str, probe: str) -> int | None:
    """The CUDA major a framework reports in a child process; a failing import is one line (exit 2),
    not a silent "CPU build" that would skip the driver check."""
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(
            f"--backend current: could not ask {framework} which CUDA it was built for: {exc}"
        ) from None
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise DriverError(
            f"--backend current: importing {framework} failed ({why}); fix it or leave {framework} out"
        )
    version = (out.stdout.strip().splitlines() or [""])[-1]
    return int(version.split(".")[0]) if version[:1].isdigit() else None
