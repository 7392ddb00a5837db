"""What every isolation backend (venv now, docker next) takes and gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from schemas.job import JobSpec


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

    def describe(self, framework: str) -> dict[str, str]: ...

    def environment_id(self, framework: str) -> str | None:
        """What a report's env.lock_hash must equal for a finished job to be reused on resume
        (None: anything goes, e.g. the fake runner)."""

    def launch(
        self, spec: JobSpec, paths: JobPaths, on_event: Callable[[dict], None], gpu_ids: tuple[int, ...] = ()
    ) -> Outcome: ...
