"""Runner virtualenvs: one per framework, built from its pinned requirements file.

A venv is created on first use, reused while its lock hash (sha256 of the requirements file and the
Python version) matches, and rebuilt when the requirements change. The lock hash is what reports
record, so two runs made from different stacks can never be mixed up silently.

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

ROOT = Path(__file__).resolve().parent.parent
STAMP = ".bench-lock"


def requirements_file(framework: str) -> Path:
    return ROOT / "images" / framework / "requirements.txt"


def venv_root() -> Path:
    return Path(os.environ.get("BENCH_VENV_DIR", ROOT / ".venvs"))


def lock_hash(framework: str) -> str:
    h = hashlib.sha256(requirements_file(framework).read_bytes())
    h.update(platform.python_version().encode())
    return h.hexdigest()


def venv_python(framework: str) -> Path:
    return venv_root() / framework / "bin" / "python"


def is_current(framework: str) -> bool:
    stamp = venv_root() / framework / STAMP
    return (
        venv_python(framework).exists()
        and stamp.exists()
        and stamp.read_text().strip() == lock_hash(framework)
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
    (target / STAMP).write_text(lock_hash(framework) + "\n")
    return venv_python(framework)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(ensure(name))
