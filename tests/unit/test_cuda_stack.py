"""CUDA stack checks without a GPU: the CUDA major each input declares and each lock pins, the driver
minimums, nvidia-smi through a fake `run`, and the venv backend's per-variant environments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator import cuda_stack, envs
from orchestrator.cuda_stack import MIN_DRIVER, DriverError, check_driver, same_major, version_key

FRAMEWORKS = ("pytorch", "tensorflow")


def fake_run(stdout: str = "", returncode: int = 0, raises: BaseException | None = None):  # type: ignore[no-untyped-def]
    calls: list[list[str]] = []

    def run(cmd, **kw):  # type: ignore[no-untyped-def]
        calls.append(cmd)
        assert kw["timeout"] == 20 and kw["check"] is False
        if raises is not None:
            raise raises
        return subprocess.CompletedProcess(cmd, returncode, stdout=stdout, stderr="")

    run.calls = calls  # type: ignore[attr-defined]
    return run


# --- version comparison ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("580.65.06", "580.159.04"),  # 65 < 159 as numbers, though "6" > "1" as text
        ("525.60.13", "525.105.17"),
        ("525.60.13", "535.104.05"),
        ("525.60.13", "525.60.14"),
        ("99.1", "100.0"),
        ("580.65.06", "580.65.6.1"),
    ],
)
def test_versions_compare_by_number(older, newer):
    assert version_key(older) < version_key(newer)
    assert not version_key(newer) < version_key(older)


def test_text_order_would_be_wrong():
    assert "580.65.06" > "580.159.04" and version_key("580.65.06") < version_key("580.159.04")


def test_versions_ignore_leading_and_trailing_zeros():
    assert version_key("580.65.06") == version_key("580.65.6") == version_key("580.65.6.0")
    assert version_key(" 535.104.05\n") == (535, 104, 5)


def test_unreadable_driver_version():
    with pytest.raises(DriverError, match="unreadable NVIDIA driver version"):
        check_driver("535.x", {"pytorch": 12})


# --- check_driver -----------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["525.60.13", "525.105.17", "535.104.05", "580.65.06", "590.1"])
def test_driver_new_enough_for_cuda_12(driver):
    check_driver(driver, {"pytorch": 12, "tensorflow": 12})


def test_driver_exactly_the_minimum_passes():
    for major, minimum in MIN_DRIVER.items():
        check_driver(minimum, {"pytorch": major})


def test_too_old_driver_is_one_line_naming_everything():
    with pytest.raises(DriverError) as err:
        check_driver("535.104.05", {"pytorch": 13, "tensorflow": 12})
    msg = str(err.value)
    assert msg == (
        "driver 535.104.05 is too old for pytorch (CUDA 13 needs >= 580.65.06); "
        "update the NVIDIA driver or use the CUDA 12 build"
    )
    assert "\n" not in msg


def test_too_old_for_both_names_both():
    with pytest.raises(DriverError) as err:
        check_driver("470.57.02", {"tensorflow": 12, "pytorch": 12})
    msg = str(err.value)
    assert "\n" not in msg
    assert "pytorch (CUDA 12 needs >= 525.60.13)" in msg and "tensorflow (CUDA 12 needs >= 525.60.13)" in msg
    assert "470.57.02" in msg and "CUDA 12 build" not in msg  # no older build to fall back on


def test_580_65_is_not_enough_for_a_later_580_minimum(monkeypatch):
    monkeypatch.setitem(MIN_DRIVER, 13, "580.159.04")
    with pytest.raises(DriverError, match=r"needs >= 580\.159\.04"):
        check_driver("580.65.06", {"pytorch": 13})


def test_no_driver():
    with pytest.raises(DriverError) as err:
        check_driver(None, {"pytorch": 12, "tensorflow": None})
    msg = str(err.value)
    assert msg.startswith("no NVIDIA driver found (nvidia-smi)") and "pytorch" in msg and "\n" not in msg
    assert "tensorflow" not in msg


def test_cpu_builds_need_no_driver():
    check_driver(None, {"pytorch": None, "tensorflow": None})
    check_driver(None, {})


def test_unknown_major_is_refused_not_guessed():
    with pytest.raises(DriverError, match="no known minimum driver for CUDA 14"):
        check_driver("999.0", {"pytorch": 14})


def test_driver_error_is_a_value_error():
    assert issubclass(DriverError, ValueError)


# --- same_major -------------------------------------------------------------------------------


def test_majors_differing_note():
    assert same_major({"tensorflow": 12, "pytorch": 13}) == "CUDA majors differ: pytorch 13, tensorflow 12"
    assert same_major({"pytorch": 12, "tensorflow": 12}) is None
    assert same_major({"pytorch": 13, "tensorflow": None}) is None
    assert same_major({}) is None


# --- nvidia-smi -------------------------------------------------------------------------------


def test_driver_version_first_line():
    run = fake_run("535.104.05\n535.104.05\n")
    assert cuda_stack.driver_version(run) == "535.104.05"
    assert run.calls == [["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]]


@pytest.mark.parametrize(
    "run",
    [
        fake_run(raises=FileNotFoundError("nvidia-smi")),
        fake_run(raises=subprocess.TimeoutExpired("nvidia-smi", 20)),
        fake_run("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", 9),
        fake_run(""),
    ],
    ids=["absent", "hangs", "fails", "silent"],
)
def test_driver_version_none(run):
    assert cuda_stack.driver_version(run) is None


# --- requirements inputs, locks and envs ------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cuda_major_of_the_real_files(framework):
    for path in (envs.input_file, envs.lock_file):  # the input declares it, the lock's pins say it
        assert cuda_stack.cuda_major(path(framework, "cuda")) == 12
        assert cuda_stack.cuda_major(path(framework, "cpu")) is None
    assert cuda_stack.cuda_major(envs.lock_file(framework, "cuda")) in MIN_DRIVER


def test_cuda_major_reads_only_the_header_comment(tmp_path: Path):
    req = tmp_path / "requirements.txt"
    req.write_text("# notes\n#cuda-major:13 \ntorch==2.13.0\n")
    assert cuda_stack.cuda_major(req) == 13
    req.write_text("# cuda-major: twelve\n# mentions cuda-major: 12 in prose\ntorch==2.13.0\n")
    assert cuda_stack.cuda_major(req) is None


def test_cuda_major_of_a_lock_comes_from_its_nvidia_pins(tmp_path: Path):
    lock = tmp_path / "requirements-cuda.txt"
    lock.write_text("nvidia-cudnn-cu13==9.1 \\\n    --hash=sha256:00\nnvidia-ml-py==13.5\nnvidia-cublas==13.0\n")
    assert cuda_stack.cuda_major(lock) == 13
    lock.write_text("nvidia-ml-py==13.5\nnumpy==2.4.6\n")  # NVML's bindings name no toolkit
    assert cuda_stack.cuda_major(lock) is None
    lock.write_text("nvidia-cudnn-cu12==9.1\nnvidia-nccl-cu13==2.2\n")
    with pytest.raises(DriverError, match=r"CUDA 12, 13: one major only"):
        cuda_stack.cuda_major(lock)


def test_cuda_majors():
    assert envs.cuda_majors(FRAMEWORKS, "cuda") == {"pytorch": 12, "tensorflow": 12}
    assert envs.cuda_majors(FRAMEWORKS, "cpu") == {"pytorch": None, "tensorflow": None}
    assert envs.cuda_majors(["fake"], "cuda") == {"fake": None}  # numpy-only: no requirements file
    assert same_major(envs.cuda_majors(FRAMEWORKS, "cuda")) is None


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lock_file_cuda_for_both_frameworks(framework):
    assert envs.lock_file(framework, "cuda").name == "requirements-cuda.txt"
    assert envs.lock_file(framework, "cpu").name == "requirements.txt"
    assert envs.lock_file(framework).name == "requirements.txt"
    assert envs.input_file(framework, "cuda").name == "requirements-cuda.in"
    assert envs.input_file(framework).name == "requirements.in"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_variants_get_their_own_venv_and_lock(framework, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_VENV_DIR", str(tmp_path))
    assert envs.venv_python(framework) == tmp_path / framework / "bin/python"  # existing venvs reused
    assert envs.venv_python(framework, "cuda") == tmp_path / f"{framework}-cuda" / "bin/python"
    assert envs.lock_hash(framework, "cuda") != envs.lock_hash(framework, "cpu") == envs.lock_hash(framework)
    assert envs._stamp(framework, "cuda") != envs._stamp(framework, "cpu")


def test_is_current_per_variant(tmp_path, monkeypatch):
    """A current cpu venv says nothing about the cuda one (the bug: one venv served both)."""
    monkeypatch.setenv("BENCH_VENV_DIR", str(tmp_path))
    python = envs.venv_python("tensorflow")
    python.parent.mkdir(parents=True)
    python.touch()
    (python.parent.parent / envs.STAMP).write_text(envs._stamp("tensorflow") + "\n")
    assert envs.is_current("tensorflow") and not envs.is_current("tensorflow", "cuda")


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant 'gpu'"):
        envs.lock_file("pytorch", "gpu")
    with pytest.raises(ValueError, match="unknown variant"):
        envs.venv_python("pytorch", "gpu")


def test_pytorch_cuda_pins_match_the_cpu_pins():
    """Only torch's build differs between the variants' direct pins (the cuda input adds NVML's
    bindings for the GPU telemetry), and the cuda input names PyTorch's cu128 index."""

    def lines(variant: str) -> list[str]:
        text = envs.input_file("pytorch", variant).read_text()
        return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]

    cpu, cuda = lines("cpu"), lines("cuda")
    assert cuda[:2] == [
        "--index-url https://pypi.org/simple",
        "--extra-index-url https://download.pytorch.org/whl/cu128",
    ]
    extra = [p for p in cuda[2:] if p.startswith("nvidia-ml-py==")]
    assert len(extra) == 1
    assert [p for p in cuda[2:] if p not in extra] == [p.replace("+cpu", "+cu128") for p in cpu]
