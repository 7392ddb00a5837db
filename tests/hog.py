"""A bounded CPU hog for the noise guard's tests: busy processes on every CPU, started and stopped
by the test (or by a watcher when the run directory reaches a number of reports)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end: pass\n"


class Hog:
    def __init__(self, processes: int | None = None, limit_seconds: float = 600):
        self.n = processes or os.cpu_count() or 1
        self.limit = limit_seconds  # a hog left behind by a crashed test stops by itself
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    def start(self) -> None:
        code = SPIN.format(limit=self.limit)
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        self.started_at = time.time()

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()
        if self.procs and self.stopped_at is None:
            self.stopped_at = time.time()


def reports_in(run_dir: Path) -> int:
    """Reports written so far, the ones a re-run moved to reports/attempts/ included: a report that
    is archived within the watcher's 20 ms poll would otherwise never be seen (the runner exits the
    moment its report is on disk), and the hog would run on into the re-run."""
    reports = run_dir / "reports"
    if not reports.is_dir():
        return 0
    return len(list(reports.glob("*.json"))) + len(list((reports / "attempts").glob("*.json")))


def jobs_started(run_dir: Path) -> int:
    """Jobs launched so far: a job's log is created when its runner is started."""
    logs = run_dir / "logs"
    return len(list(logs.glob("*.log"))) if logs.is_dir() else 0


@contextmanager
def hog_between(run_dir: Path, start_with_job: int, stop_after: int) -> Iterator[Hog]:
    """Run the hog from the launch of job number `start_with_job` (1 = the first) until
    `run_dir/reports` holds `stop_after` reports; a watcher thread polls every 20 ms."""
    hog, done = Hog(), threading.Event()

    def watch() -> None:
        while not done.is_set() and jobs_started(run_dir) < start_with_job:
            time.sleep(0.02)
        if done.is_set():
            return
        hog.start()
        while not done.is_set() and reports_in(run_dir) < stop_after:
            time.sleep(0.02)
        hog.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield hog
    finally:
        done.set()
        watcher.join(timeout=10)
        hog.stop()
