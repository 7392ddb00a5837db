"""orchestrator.signals: SIGINT and SIGTERM raise KeyboardInterrupt whatever bench inherited."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from orchestrator.signals import install_interrupt_handlers


@pytest.fixture
def _restore_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("_restore_handlers")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_ignored_signal_raises_keyboard_interrupt_after_install(sig: signal.Signals) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under `nohup ... &`
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    install_interrupt_handlers()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the Python-level handler runs in the main thread, at the latest when woken here
