import pytest


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when there is no terminal; tests match whole lines."""
    monkeypatch.setenv("COLUMNS", "250")
