"""Runner environments' locks, and the venv backend's virtualenvs built from them.

Per framework and variant (cpu: the CPU builds; cuda: the CUDA builds) two files in images/<framework>/:
`input_file`, requirements[-cuda].in, the direct pins a person edits, and `lock_file`,
requirements[-cuda].txt, generated from it by `make locks` (uv pip compile --generate-hashes, resolved
for CPython 3.11 on Linux x86_64, the images' Python), which pins every transitive dependency with the
sha256 of each of its files. Venvs and images install only the lock, hashes required and nothing
resolved (`pip install --require-hashes --no-deps`), so one lock is one set of files on every machine.
`lock_hash` (sha256 of the lock) is the one definition of "the same stack": reports record it as
env.lock_hash, images carry it as their bench.requirements_sha256 label, and resume keeps a finished
job only when it matches. Each variant has its own venv, `<venv root>/<framework>` for cpu and
`<venv root>/<framework>-cuda` for cuda, so a GPU host keeps both. A venv is created on first use,
reused while its stamp (the variant's lock hash and the Python version that built it) matches, and
rebuilt when either changes. A version matrix (a suite's `versions`, schemas/suite.py) adds one
environment per version V of a framework F, named `F@V`: its input is F's requirements.in with F's
main package (schemas.job.MAIN_PACKAGE) pinned to V, written with its lock to `<venv root>/locks/F@V.in`
and `F@V.txt` by the same `uv pip compile` as `make locks` (`compile_lock`), starting from F's own lock
so every other pin stays F's unless V needs another; its venv is `<venv root>/F@V`, built from that lock
with hashes required like any other. `cuda_majors` says which CUDA major each framework's lock brings
(orchestrator/cuda_stack.py checks the driver against it).

    python -m orchestrator.envs pytorch tensorflow                  # build or verify, print the paths
    python -m orchestrator.envs --variant cuda pytorch tensorflow   # the CUDA builds (GPU hosts)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator import cuda_stack
from schemas.common import ROOT
from schemas.job import MAIN_PACKAGE

STAMP = ".bench-lock"
IMAGES = ROOT / "images"
VARIANTS = ("cpu", "cuda")


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:  # a typo must not quietly build or reuse the CPU stack
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")


def input_file(framework: str, variant: str = "cpu") -> Path:
    """requirements-cuda.in for the cuda variant where a framework has one (TensorFlow, PyTorch), else
    requirements.in (the CPU pins: the cpu venv's and the CPU image's)."""
    check_variant(variant)
    cuda = IMAGES / framework / "requirements-cuda.in"
    return cuda if variant == "cuda" and cuda.exists() else IMAGES / framework / "requirements.in"


def split_env(name: str) -> tuple[str, str | None]:
    """A runner environment's name (JobSpec.runner_env) -> framework, version: 'keras-jax@3.14.0' ->
    ('keras-jax', '3.14.0'), 'keras-jax' -> ('keras-jax', None)."""
    framework, _, version = name.partition("@")
    return framework, version or None


def _versioned(name: str, variant: str) -> tuple[str, str | None, str]:
    """name -> framework, version, and the variant's base name of its files ('keras-jax-cuda@3.14.0')."""
    check_variant(variant)
    framework, version = split_env(name)
    base = framework if variant == "cpu" else f"{framework}-{variant}"
    return framework, version, base if version is None else f"{base}@{version}"


def version_input_file(name: str, variant: str = "cpu") -> Path:
    """Where a version's requirements input is written: <venv root>/locks/F@V.in."""
    return venv_root() / "locks" / (_versioned(name, variant)[2] + ".in")


def lock_file(framework: str, variant: str = "cpu") -> Path:
    """The lock generated from `input_file` (pip-tools' naming: requirements.in -> requirements.txt);
    for a version ('keras-jax@3.14.0') the one generated from `version_input_file`."""
    if split_env(framework)[1] is not None:
        return version_input_file(framework, variant).with_suffix(".txt")
    return input_file(framework, variant).with_suffix(".txt")


def lock_hash(framework: str, variant: str = "cpu") -> str:
    return hashlib.sha256(lock_file(framework, variant).read_bytes()).hexdigest()


def version_input(framework: str, version: str, variant: str = "cpu") -> str:
    """The framework's requirements input with its main package pinned to `version` (ValueError when
    the input pins none of MAIN_PACKAGE's distributions: nothing to vary)."""
    packages = {normalize(name) for name in MAIN_PACKAGE.get(framework, ())}
    source = input_file(framework, variant)
    lines, replaced = [], False
    for line in source.read_text().splitlines():
        match = _REQUIREMENT.match(line.strip())
        if match is not None and not line.lstrip().startswith(("#", "-")) and normalize(match.group(1)) in packages:
            lines.append(f"{match.group(1)}=={version}")
            replaced = True
        else:
            lines.append(line)
    if not replaced:
        raise ValueError(f"{_shown(source)} pins none of {', '.join(sorted(packages)) or 'no package'}: nothing to vary")
    header = f"# {framework} with {'/'.join(sorted(packages))} {version}: {_shown(source)}, its main pin replaced"
    return "\n".join([header, *lines]) + "\n"


def compile_lock(source: Path, output: Path, extra: Sequence[str] = ()) -> None:
    """`uv pip compile` as `make locks` runs it: hashes, resolved for the images' CPython 3.11 on Linux
    x86_64, pip's find-links (LOCK_FIND_LINKS or PIP_FIND_LINKS) searched too, an input's own index
    (any mention of -index-url) kept in its lock, and LOCK_ARGS (e.g. --upgrade) added. An existing `output` keeps its pins unless
    the input needs others. CalledProcessError when it cannot be locked."""
    uv = Path(sys.executable).parent / "uv"
    find_links = os.environ.get("LOCK_FIND_LINKS") or os.environ.get("PIP_FIND_LINKS")
    cmd = [str(uv) if uv.exists() else shutil.which("uv") or "uv", "pip", "compile", "--quiet", "--generate-hashes",
           "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
           "--custom-compile-command", "make locks"]  # fmt: skip
    if find_links:
        cmd += ["--find-links", find_links]
    # As the Makefile's `grep -- -index-url` did, comments included: the existing locks were made so.
    if "-index-url" in source.read_text():
        cmd.append("--emit-index-url")
    cmd += [*shlex.split(os.environ.get("LOCK_ARGS", "")), *extra, "--output-file", str(output), str(source)]
    subprocess.run(cmd, check=True)


def ensure_lock(name: str, log: Callable[[str], None] = print, variant: str = "cpu") -> Path:
    """A version's lock ('keras-jax@3.14.0'), generated when missing or when its input changed (F's
    requirements.in was edited); a plain framework's lock as it is (`make locks` makes those)."""
    framework, version, _ = _versioned(name, variant)
    lock = lock_file(name, variant)
    if version is None:
        return lock
    source = version_input_file(name, variant)
    wanted = version_input(framework, version, variant)
    if lock.exists() and source.exists() and source.read_text() == wanted:
        return lock
    log(f"{name}: locking {framework} with its main package at {version} -> {_shown(lock)}")
    lock.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(wanted)
    base = lock_file(framework, variant)
    if not lock.exists() and base.exists():
        shutil.copyfile(base, lock)  # start from the framework's pins: only what V needs moves
    try:
        compile_lock(source, lock)
    except (subprocess.CalledProcessError, OSError) as exc:
        source.unlink(missing_ok=True)  # locked next time, not taken as current
        raise RuntimeError(f"{name}: cannot lock {framework} at {version} (uv pip compile failed: {exc})") from None
    return lock


@dataclass(frozen=True)
class Pin:
    name: str  # normalized as PEP 503 does (Jinja2 -> jinja2, typing_extensions -> typing-extensions)
    version: str  # what follows ==; "" when the requirement is not pinned exactly
    hashes: tuple[str, ...]


_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==\s*([^\s;]+))?")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> list[Pin]:
    """The requirements of a requirements file, an input or a lock; options (--index-url ...) and
    comments are skipped, a requirement's continuation lines (its --hash options) joined to it."""
    pins = []
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        match = _REQUIREMENT.match(line)
        if not line or line.startswith(("#", "-")) or match is None:
            continue
        hashes = tuple(word.removeprefix("--hash=") for word in line.split() if word.startswith("--hash="))
        pins.append(Pin(normalize(match.group(1)), match.group(2) or "", hashes))
    return pins


def cuda_majors(frameworks: Iterable[str], variant: str) -> dict[str, int | None]:
    """Framework -> the CUDA major its lock brings for this variant; None for cpu, and for a runner
    without a lock (the numpy-only fake runner)."""
    check_variant(variant)
    majors: dict[str, int | None] = {}
    for fw in frameworks:
        lock = lock_file(fw, variant)
        majors[fw] = cuda_stack.cuda_major(lock) if variant == "cuda" and lock.exists() else None
    return majors


def venv_root() -> Path:
    return Path(os.environ.get("BENCH_VENV_DIR", ROOT / ".venvs"))


def venv_dir(framework: str, variant: str = "cpu") -> Path:
    """cpu keeps the plain framework name, so venvs built before variants existed are reused; a
    version's ('keras-jax@3.14.0') is <venv root>/keras-jax@3.14.0."""
    return venv_root() / _versioned(framework, variant)[2]


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
        and lock_file(framework, variant).exists()
        and stamp.read_text().strip() == _stamp(framework, variant)
    )


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _check_lock(lock: Path) -> None:
    """Refuse, in one line, a lock that was never generated or that pip would refuse in many."""
    if not lock.exists():
        raise FileNotFoundError(f"no lock file at {_shown(lock)}: run `make locks`")
    unhashed = [pin.name for pin in read_pins(lock) if not pin.hashes]
    if unhashed:
        why = f"{unhashed[0]} has no --hash"
        raise ValueError(f"{_shown(lock)} is not a hashed lock ({why}): run `make locks`")


def ensure(framework: str, log: Callable[[str], None] = print, variant: str = "cpu") -> Path:
    """Return the variant's venv python, building (or rebuilding) the venv if its lock hash is stale.
    `framework` may name a version ('keras-jax@3.14.0'): its lock is made first (`ensure_lock`)."""
    if split_env(framework)[1] is not None:
        ensure_lock(framework, log, variant)
    if is_current(framework, variant):
        return venv_python(framework, variant)
    lock = lock_file(framework, variant)
    _check_lock(lock)
    target = venv_dir(framework, variant)
    if target.exists():
        log(f"{framework}: lock changed, rebuilding {target}")
        shutil.rmtree(target)
    log(f"{framework}: creating virtualenv {target} from {_shown(lock)} (first use; takes minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    # Exactly the lock's files: every one hash-checked, and nothing resolved beyond the lock (pip
    # check then proves the lock complete: a dependency missing from it fails the build, not a job).
    subprocess.run([*pip, "install", "--quiet", "--require-hashes", "--no-deps", "-r", str(lock)], check=True)
    subprocess.run([*pip, "check"], check=True, stdout=subprocess.DEVNULL)
    (target / STAMP).write_text(_stamp(framework, variant) + "\n")
    return venv_python(framework, variant)


def lock_inputs(sources: Sequence[Path], log: Callable[[str], None] = print) -> list[Path]:
    """`make locks`: each input -> its lock beside it (requirements.in -> requirements.txt) by
    `compile_lock`; the inputs that could not be locked, each left as it was (the others are written)."""
    failed = []
    for source in sources:
        log(f"locking {source}")
        try:
            compile_lock(source, source.with_suffix(".txt"))
        except (subprocess.CalledProcessError, OSError):
            failed.append(source)
    return failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.envs",
        description="Build or verify runner virtualenvs; print their pythons. --lock: regenerate locks.",
    )
    parser.add_argument("--variant", choices=VARIANTS, default="cpu")
    parser.add_argument("--lock", nargs="+", type=Path, metavar="INPUT", help="requirements .in files to lock (make locks)")
    parser.add_argument("frameworks", nargs="*", metavar="FRAMEWORK", help="a framework, or FRAMEWORK@VERSION")
    args = parser.parse_args(argv)
    if args.lock:
        failed = lock_inputs(args.lock)
        if failed:
            sys.exit(f"make locks: not locked: {' '.join(map(str, failed))}")
    for name in args.frameworks:
        print(ensure(name, variant=args.variant))


if __name__ == "__main__":
    main()
