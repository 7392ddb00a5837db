import os
from collections.abc import Callable

import pytest

# System parts a test may need that pip cannot install, each with a check that returns why it is
# missing (None when present). `make setup` installs what it can (tools/fashion-mnist.sh); where it
# cannot, the test skips with the reason, except in CI, where a skip would hide a broken machine.
# Add a part here and mark its tests `@pytest.mark.system("NAME")`.


def _fashion_mnist() -> str | None:
    from runners.datasets.sources_idx import FASHION_MNIST_SYSTEM_DIRS, FILES

    system = FASHION_MNIST_SYSTEM_DIRS[0]
    if all((system / f).is_file() for f in FILES):
        return None
    return (
        f"Debian's Fashion-MNIST is not installed under {system}/: `make setup` installs it where apt "
        "is usable, else run `sudo apt-get install dataset-fashion-mnist`"
    )


SYSTEM_PARTS: dict[str, Callable[[], str | None]] = {"fashion-mnist": _fashion_mnist}


def system_required() -> str | None:
    """The setting that forbids system tests to skip, or None. CI=true is what CI services set."""
    if os.environ.get("BENCH_REQUIRE_SYSTEM") == "1":
        return "BENCH_REQUIRE_SYSTEM=1"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        return f"CI={os.environ['CI']}"
    return None


def _required_by(item: pytest.Item) -> str | None:
    """Why a skip of this test would be a failure, or None. Docker keeps its own switch
    (BENCH_REQUIRE_DOCKER=1, set by .ci/run after it has started an engine and built the images)."""
    if item.get_closest_marker("gpu") is not None and os.environ.get("BENCH_REQUIRE_GPU") != "1":
        return None  # a GPU test (docker or not) may skip where no GPU is required: CI has none
    if item.get_closest_marker("docker") is not None and os.environ.get("BENCH_REQUIRE_DOCKER") == "1":
        return "BENCH_REQUIRE_DOCKER=1, so this docker test may not skip"
    if item.get_closest_marker("gpu") is not None and os.environ.get("BENCH_REQUIRE_GPU") == "1":
        return "BENCH_REQUIRE_GPU=1, so this GPU test may not skip"
    if item.get_closest_marker("system") is not None and (setting := system_required()):
        return f"{setting}, so this test of a system part may not skip"
    return None


@pytest.fixture(autouse=True)
def _noise_guard_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The noise guard waits for a quiet machine (>= 2 s) before each run and re-runs jobs timed on a
    busy one. Tests of other things run while the test suite itself loads the machine: they turn it
    off here (the `bench` subprocesses inherit it); the noise guard's own tests set these back."""
    monkeypatch.setenv("BENCH_QUIET_WAIT", "0")
    monkeypatch.setenv("BENCH_RERUN_CONTAMINATED", "0")


@pytest.fixture(autouse=True)
def _no_stored_calibration(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A calibration stored on this machine (bench calibrate) would change the runs' margin under
    the tests' feet: every test sees an empty store unless it fills one itself."""
    monkeypatch.setenv("BENCH_CALIBRATION_DIR", str(tmp_path_factory.mktemp("calibration")))


@pytest.fixture(autouse=True)
def _history_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every finished `bench orchestrate` run is added to the results history: the tests' runs go to a
    throwaway store, never the user's (~/.cache/bench/history)."""
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path_factory.mktemp("history")))


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when there is no terminal; tests match whole lines."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture(autouse=True)
def _venv_backend_unless_docker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """`bench orchestrate --backend auto` picks docker wherever an engine runs and the images are
    built (CI builds them). Tests written for the venv backend (they find runner processes among
    the orchestrator's children) keep it; docker-marked tests ask for docker themselves."""
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("BENCH_BACKEND", "venv")


def _no_gpu() -> str | None:
    from orchestrator.gpu_slots import discover_gpus

    return (
        None
        if discover_gpus()
        else "no NVIDIA GPU here (nvidia-smi lists none): the GPU path runs on GPU hosts"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None and (missing := _no_gpu()) is not None:
        pytest.skip(missing)
    for marker in item.iter_markers("system"):
        (name,) = marker.args
        if name not in SYSTEM_PARTS:
            pytest.fail(
                f"unknown system part {name!r}; known: {', '.join(sorted(SYSTEM_PARTS))}", pytrace=False
            )
        if (missing := SYSTEM_PARTS[name]()) is not None:
            pytest.skip(missing)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A docker or system test that would skip fails instead where it is required (CI): a CI
    without an engine or a dataset must not pass by skipping the very tests that need them."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and (required := _required_by(item)):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{required}; it would have: {reason}"
