"""Runner environments' pins, and the venv backend's virtualenvs built from them.

`requirements_file` says which pins a framework's environment installs (venv, or a docker image of a
variant); `lock_hash` (sha256 of that file) is the one definition of "the same stack": reports record
it as env.lock_hash, images carry it as their bench.requirements_sha256 label, and resume keeps a
finished job only when it matches. A venv is created on first use, reused while its stamp (the lock
hash and the Python version that built it) matches, and rebuilt when either changes.

    python -m orchestrator.envs pytorch tensorflow     # build or verify, print the paths
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from schemas.common import ROOT

STAMP = ".bench-lock"
IMAGES = ROOT / "images"


def requirements_file(framework: str, variant: str = "cpu") -> Path:
    """requirements-cuda.txt where a framework needs other packages for CUDA (TensorFlow), else
    requirements.txt (the venv backend's pins and the CPU image's)."""
    cuda = IMAGES / framework / "requirements-cuda.txt"
    return cuda if variant == "cuda" and cuda.exists() else IMAGES / framework / "requirements.txt"


def lock_hash(framework: str, variant: str = "cpu") -> str:
    return hashlib.sha256(requirements_file(framework, variant).read_bytes()).hexdigest()


def venv_root() -> Path:
    return Path(os.environ.get("BENCH_VENV_DIR", ROOT / ".venvs"))


def _stamp(framework: str) -> str:
    return f"{lock_hash(framework)} python {platform.python_version()}"


def venv_python(framework: str) -> Path:
    return venv_root() / framework / "bin" / "python"


def is_current(framework: str) -> bool:
    stamp = venv_root() / framework / STAMP
    return (
        venv_python(framework).exists() and stamp.exists() and stamp.read_text().strip() == _stamp(framework)
    )


def ensure(framework: str, log=print) -> Path:  # type: ignore[no-untyped-def]
    """Return the venv's python, building (or rebuilding) the venv if its lock hash is stale."""
    req = requirements_file(framework)
    if not req.exists():
        raise FileNotFoundError(f"no requirements file for runner {framework!r} at {req}")
    target = venv_root() / framework
    if is_current(framework):
        return venv_python(framework)
    if target.exists():
        log(f"{framework}: requirements changed, rebuilding {target}")
        shutil.rmtree(target)
    log(f"{framework}: creating virtualenv {target} from {req.relative_to(ROOT)} (first use; takes minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(req),
        ],
        check=True,
    )
    (target / STAMP).write_text(_stamp(framework) + "\n")
    return venv_python(framework)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(ensure(name))
