"""What every isolation backend (venv: a virtualenv per framework; docker: a container per job) takes
and gives back. Backends may hold resources (engine connections): `close()` or `with`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from schemas.job import JobSpec
from schemas.report import Placement


@dataclass(frozen=True)
class JobPaths:
    spec: Path
    report: Path
    log: Path
    data_dir: Path


@dataclass(frozen=True)
class Outcome:
    """What the backend saw of the process, independent of what the runner reported."""

    exit_code: int | None  # negative: killed by that signal (subprocess convention)
    wall_seconds: float
    timed_out: bool
    oom_killed: bool = False  # the kernel's OOM killer ended it (docker reports this per container)


class Backend(Protocol):
    name: str
    variant: str  # the runner build it launches: cpu | cuda (images/<framework>/, docs/docker.md)

    def describe(self, framework: str) -> dict[str, str]: ...

    def environment_id(self, framework: str) -> str | None:
        """What a report's env.lock_hash must equal for a finished job to be reused on resume
        (None: anything goes, e.g. the fake runner)."""

    def launch(
        self, spec: JobSpec, paths: JobPaths, on_event: Callable[[dict], None], placement: Placement
    ) -> Outcome:
        """Run one job where `placement` says: its GPUs (CUDA_VISIBLE_DEVICES names, or the container's
        device request) and the CPUs it is pinned to (none: not pinned)."""

    def cuda_majors(self, frameworks: Sequence[str]) -> dict[str, int | None]:
        """Each framework's CUDA major in the builds this backend runs (None: CPU build), for the
        driver check before any GPU job (orchestrator/cuda_stack.py)."""

    def cancel(self) -> None:
        """Kill every job this backend is running now (Ctrl-C while jobs run side by side)."""

    def sweep_leftovers(self) -> int:
        """Remove what runs that died without cleaning up left behind (containers); how many."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
