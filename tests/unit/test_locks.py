"""Runner locks without installing anything: every images/*/requirements*.in has a lock beside it that
pins every package exactly with its hashes and still holds the input's direct pins (an input edited
without `make locks` fails here), and the venv backend refuses a lock it cannot install in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import envs

INPUTS = sorted(envs.IMAGES.glob("*/requirements*.in"))
# Locks `make locks` cannot generate on the project's machines, and why: each is marked xfail
# (strict), so locking it makes its test fail until the entry is removed.
NOT_LOCKED_HERE = {
    "pytorch/requirements-cuda.in": "torch's cu128 build is only on download.pytorch.org, unreachable here",
    "keras-torch/requirements-cuda.in": "torch's cu128 build is only on download.pytorch.org, unreachable here",
}


def _params() -> list:  # type: ignore[type-arg]
    params = []
    for source in INPUTS:
        name = source.relative_to(envs.IMAGES).as_posix()
        why = NOT_LOCKED_HERE.get(name)
        marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
        params.append(pytest.param(source, id=name, marks=marks))
    return params


def test_every_runner_has_locks():
    assert {p.parent.name for p in INPUTS} >= {"pytorch", "tensorflow"}
    assert set(NOT_LOCKED_HERE) <= {p.relative_to(envs.IMAGES).as_posix() for p in INPUTS}
    for source in INPUTS:
        assert source.with_suffix(".txt").exists(), f"{source.name} has no lock: run `make locks`"
    for lock in envs.IMAGES.glob("*/requirements*.txt"):  # no lock outlives its input
        assert lock.with_suffix(".in").exists(), f"{lock} has no input"


@pytest.mark.parametrize("source", _params())
def test_lock_pins_every_package_with_hashes(source: Path):
    pins = envs.read_pins(source.with_suffix(".txt"))
    assert pins
    assert [p.name for p in pins if not p.version] == []
    assert [p.name for p in pins if not p.hashes] == []
    assert all(h.startswith("sha256:") and len(h) == len("sha256:") + 64 for p in pins for h in p.hashes)
    assert len({p.name for p in pins}) == len(pins)


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.relative_to(envs.IMAGES).as_posix())
def test_lock_holds_its_inputs_direct_pins(source: Path):
    direct = {p.name: p.version for p in envs.read_pins(source)}
    assert direct and all(direct.values()), "an input pins each direct requirement with =="
    locked = {p.name: p.version for p in envs.read_pins(source.with_suffix(".txt"))}
    assert {name: locked.get(name) for name in direct} == direct, "input changed: run `make locks`"


@pytest.mark.parametrize("framework", ["pytorch", "keras-torch"])
def test_torch_cpu_lock_is_the_cpu_wheel(framework: str):
    """`+cpu` with only the CPU wheel's hash: hash checking can never take PyPI's CUDA build."""
    (torch,) = [p for p in envs.read_pins(envs.lock_file(framework)) if p.name == "torch"]
    assert torch.version.endswith("+cpu") and torch.hashes
    assert not any(p.name.startswith("nvidia-") for p in envs.read_pins(envs.lock_file(framework)))


def test_read_pins(tmp_path: Path):
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "# header\n--index-url https://pypi.org/simple\n\n"
        "Typing_Extensions==4.16.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via torch\n"
        "tensorflow[and-cuda]==2.21.0  # a comment\nnumpy>=2\n"
    )
    assert envs.read_pins(lock) == [
        envs.Pin("typing-extensions", "4.16.0", ("sha256:aa", "sha256:bb")),
        envs.Pin("tensorflow", "2.21.0", ()),
        envs.Pin("numpy", "", ()),
    ]


def test_ensure_refuses_a_lock_without_hashes_in_one_line(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(envs, "IMAGES", tmp_path)
    monkeypatch.setenv("BENCH_VENV_DIR", str(tmp_path / "venvs"))
    (tmp_path / "demo").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no lock file at .*requirements.txt: run `make locks`$"):
        envs.ensure("demo", log=lambda _: None)
    lock = tmp_path / "demo/requirements.txt"
    lock.write_text("numpy==2.4.6 \\\n    --hash=sha256:aa\npydantic==2.14.3\n")
    with pytest.raises(ValueError, match=r"not a hashed lock \(pydantic has no --hash\): run `make locks`$"):
        envs.ensure("demo", log=lambda _: None)
    assert not (tmp_path / "venvs").exists()  # refused before any venv is made
