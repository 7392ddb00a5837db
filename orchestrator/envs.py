"""Runner environments' pins, and the venv backend's virtualenvs built from them.

`requirements_file` says which pins a framework's environment installs for a variant (cpu: the
CPU builds; cuda: the CUDA builds, requirements-cuda.txt), in a venv or a docker image alike;
`lock_hash` (sha256 of that file) is the one definition of "the same stack": reports record it as
env.lock_hash, images carry it as their bench.requirements_sha256 label, and resume keeps a finished
job only when it matches. Each variant has its own venv, `<venv root>/<framework>` for cpu and
`<venv root>/<framework>-cuda` for cuda, so a GPU host keeps both. A venv is created on first use,
reused while its stamp (the variant's lock hash and the Python version that built it) matches, and
rebuilt when either changes. `cuda_majors` says which CUDA major each framework's pins bring
(orchestrator/cuda_stack.py checks the driver against it).

    python -m orchestrator.envs pytorch tensorflow                  # build or verify, print the paths
    python -m orchestrator.envs --variant cuda pytorch tensorflow   # the CUDA builds (GPU hosts)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestrator import cuda_stack
from schemas.common import ROOT

STAMP = ".bench-lock"
IMAGES = ROOT / "images"
VARIANTS = ("cpu", "cuda")


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:  # a typo must not quietly build or reuse the CPU stack
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")


def requirements_file(framework: str, variant: str = "cpu") -> Path:
    """requirements-cuda.txt for the cuda variant where a framework has one (TensorFlow, PyTorch),
    else requirements.txt (the CPU pins: the cpu venv's and the CPU image's)."""
    check_variant(variant)
    cuda = IMAGES / framework / "requirements-cuda.txt"
    return cuda if variant == "cuda" and cuda.exists() else IMAGES / framework / "requirements.txt"


def lock_hash(framework: str, variant: str = "cpu") -> str:
    return hashlib.sha256(requirements_file(framework, variant).read_bytes()).hexdigest()


def cuda_majors(frameworks: Iterable[str], variant: str) -> dict[str, int | None]:
    """Framework -> the CUDA major its pins bring for this variant; None for cpu, and for a runner
    without a requirements file (the numpy-only fake runner)."""
    check_variant(variant)
    majors: dict[str, int | None] = {}
    for fw in frameworks:
        req = requirements_file(fw, variant)
        majors[fw] = cuda_stack.cuda_major(req) if variant == "cuda" and req.exists() else None
    return majors


def venv_root() -> Path:
    return Path(os.environ.get("BENCH_VENV_DIR", ROOT / ".venvs"))


def venv_dir(framework: str, variant: str = "cpu") -> Path:
    """cpu keeps the plain framework name, so venvs built before variants existed are reused."""
    check_variant(variant)
    return venv_root() / (framework if variant == "cpu" else f"{framework}-{variant}")


def _stamp(framework: str, variant: str = "cpu") -> str:
    # No variant in the text: the directory already says it, and cpu stamps stay as they were.
    return f"{lock_hash(framework, variant)} python {platform.python_version()}"


def venv_python(framework: str, variant: str = "cpu") -> Path:
    return venv_dir(framework, variant) / "bin" / "python"


def is_current(framework: str, variant: str = "cpu") -> bool:
    stamp = venv_dir(framework, variant) / STAMP
    return (
        venv_python(framework, variant).exists()
        and stamp.exists()
        and stamp.read_text().strip() == _stamp(framework, variant)
    )


def ensure(framework: str, log: Callable[[str], None] = print, variant: str = "cpu") -> Path:
    """Return the variant's venv python, building (or rebuilding) the venv if its lock hash is stale."""
    req = requirements_file(framework, variant)
    if not req.exists():
        raise FileNotFoundError(f"no requirements file for runner {framework!r} at {req}")
    target = venv_dir(framework, variant)
    if is_current(framework, variant):
        return venv_python(framework, variant)
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
    (target / STAMP).write_text(_stamp(framework, variant) + "\n")
    return venv_python(framework, variant)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.envs",
        description="Build or verify runner virtualenvs; print their pythons.",
    )
    parser.add_argument("--variant", choices=VARIANTS, default="cpu")
    parser.add_argument("frameworks", nargs="+", metavar="FRAMEWORK")
    args = parser.parse_args(argv)
    for name in args.frameworks:
        print(ensure(name, variant=args.variant))


if __name__ == "__main__":
    main()
