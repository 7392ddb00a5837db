"""A run directory: everything one `bench orchestrate` produced, enough to re-render it offline.

RUN_DIR/run.json           name, state (running|complete|interrupted), datasets used and why,
                           backend and runner environments, machine, command
RUN_DIR/suite.toml         the suite file as given;  suite.json: the suite after options
RUN_DIR/specs/ID.json      one JobSpec per job (ID = content hash)
RUN_DIR/reports/ID.json    one RunReport per job, status included, whatever happened
RUN_DIR/logs/ID.log        the runner's stdout and stderr
RUN_DIR/data/NAME.npz      datasets prepared once and read by every runner
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.backends.base import JobPaths
from runners.environment import cpu_model
from runners.harness import write_atomic
from schemas.job import JobSpec


class RunDirError(ValueError):
    pass


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def create(cls, root: Path) -> RunDir:
        if (root / "run.json").exists():
            raise RunDirError(f"{root} already holds a run; choose another --out or --resume it")
        try:
            for sub in ("specs", "reports", "logs", "data"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            probe = root / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(f"cannot write to {root}: {exc.strerror}") from None
        return cls(root)

    @classmethod
    def open(cls, root: Path) -> RunDir:
        """An existing run directory, checked enough to resume it."""
        if not (root / "run.json").is_file():
            raise RunDirError(f"{root} is not a run directory (no run.json)")
        try:
            json.loads((root / "run.json").read_text())
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{root / 'run.json'} is unreadable ({exc}); cannot resume") from None
        return cls(root)

    def planned_specs(self) -> list[JobSpec]:
        """The specs in planned order (run.json "plan"), each validated against its content id."""
        plan = self.meta().get("plan")
        if not isinstance(plan, list) or not plan:
            raise RunDirError(f"{self.root} has no job plan (it stopped before planning); start a new run")
        specs = []
        for sid in plan:
            path = self.root / "specs" / f"{sid}.json"
            try:
                spec = JobSpec.model_validate_json(path.read_bytes())
            except (OSError, ValidationError) as exc:
                raise RunDirError(
                    f"{path}: missing or invalid ({type(exc).__name__}); cannot resume"
                ) from None
            if spec.spec_id != sid:
                raise RunDirError(f"{path}: content does not match its id {sid}; cannot resume")
            specs.append(spec)
        return specs

    def paths(self, spec: JobSpec) -> JobPaths:
        sid = spec.spec_id
        return JobPaths(
            spec=self.root / "specs" / f"{sid}.json",
            report=self.root / "reports" / f"{sid}.json",
            log=self.root / "logs" / f"{sid}.log",
            data_dir=self.data_dir,
        )

    def write_spec(self, spec: JobSpec) -> None:
        write_atomic(self.paths(spec).spec, spec.model_dump_json(indent=2))

    def meta(self) -> dict[str, Any]:
        path = self.root / "run.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def update_meta(self, **fields: Any) -> None:
        write_atomic(self.root / "run.json", json.dumps({**self.meta(), **fields}, indent=2, sort_keys=True))


def machine_label() -> str:
    return f"{platform.node() or 'host'}: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
