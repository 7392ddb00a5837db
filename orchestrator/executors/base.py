"""What every executor (where jobs run: here one after another, or as Ray tasks) takes and gives back.

An executor resolves `--gpus` into the run's one `Device`, then runs planned jobs through an isolation
backend; each job goes through the same attempt -> finalize -> retry path (orchestrator/jobs.py)
whichever executor runs it. Executors hold resources (a cluster connection): `close()` or `with`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from rich.console import Console

from orchestrator.backends.base import Backend
from orchestrator.jobs import JobPolicy
from orchestrator.rundir import RunDir
from schemas.job import Device, JobSpec
from schemas.report import RunReport


@dataclass
class LoopResult:
    failed: list[tuple[JobSpec, RunReport]] = field(default_factory=list)
    kept: int = 0  # finished ok before (resume), not re-run
    interrupted: bool = False
    quiet_before: dict[str, object] | None = None  # the noise guard's wait before the first job


class Executor(Protocol):
    name: str

    def device(self, gpus: str) -> tuple[Device, str]:
        """`--gpus` (all | none | 0,1) as the device every job gets, and a note for the user or ''."""

    def cores_per_job(self) -> int | None:
        """The CPUs each job gets, which "auto" threads become (None: this process's CPUs)."""

    def describe(self) -> dict[str, object]:
        """What run.json records of the placement: gpu_mode and the slots (GPU, NUMA node, CPUs)."""

    def run_jobs(
        self, run: RunDir, specs: list[JobSpec], backend: Backend, console: Console, policy: JobPolicy
    ) -> LoopResult:
        """Run every spec (a finished ok job of the same environment is kept); run a job again as
        `policy` says (crashed, contaminated); Ctrl-C kills what runs and records what did not, then
        returns interrupted."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
