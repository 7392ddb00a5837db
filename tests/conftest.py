import os

import pytest


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With BENCH_REQUIRE_DOCKER=1 (CI sets it) a docker test that would skip fails instead: a CI
    without an engine must not pass by skipping the very tests that need one."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("BENCH_REQUIRE_DOCKER") == "1"
        and item.get_closest_marker("docker") is not None
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"BENCH_REQUIRE_DOCKER=1, so this docker test may not skip; it would have: {reason}"
