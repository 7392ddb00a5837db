"""`bench`'s own Ctrl-C and SIGTERM handling, whatever its parent left it.

A process started from a non-interactive shell with `&` (`nohup make test > log 2>&1 &`) inherits
SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler: `bench` would ignore Ctrl-C
and `kill -INT` entirely. SIGTERM (a scheduler, `timeout`, a shutdown) would kill it without the
clean path. Both therefore raise KeyboardInterrupt, which the commands turn into "kill the running
job, keep the finished reports, mark the run interrupted, exit 130".
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_interrupt_handlers() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread. Call it again after anything
    that installs its own handlers (`ray.init` does, for SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal refuses other threads (an embedding test harness): leave theirs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
