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


class Backend(Protocol):
    name: str

    def describe(self, framework: str) -> dict[str, str]: ...

    def launch(
        self, spec: JobSpec, paths: JobPaths, on_event: Callable[[dict], None], gpu_ids: tuple[int, ...] = ()
    ) -> Outcome: ...
