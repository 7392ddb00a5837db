"""A run directory: everything one `bench orchestrate` produced, enough to re-render it offline.

RUN_DIR/run.json           name, state (running|complete|interrupted), datasets used and why,
                           backend and runner environments, machine, command
RUN_DIR/suite.toml         the suite file as given;  suite.json: the suite after options
RUN_DIR/specs/ID.json      one JobSpec per job (ID = content hash)
RUN_DIR/reports/ID.json    one RunReport per job, status included, whatever happened
RUN_DIR/logs/ID.log        the runner's stdout and stderr
RUN_DIR/data/NAME.npz      datasets prepared once and read by every runner
RUN_DIR/data/init/KEY.npz  initial weights and batch orders, once per (network, data size, seed)

This module is the one place that knows these names: the executors, the collector and the results
all reach the files through a RunDir.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.backends.base import JobPaths
from runners.environment import cpu_model
from schemas.common import write_text_atomic
from schemas.job import JobSpec
from schemas.parse import ParseError, load_json_bytes
from schemas.suite import Suite

# framework-dataset-hash (JobSpec.spec_id); anything else in run.json's plan is not ours to open
SPEC_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,100}")


LAYOUT_DIRS = ("specs", "reports", "logs", "data")


class RunDirError(ValueError):
    pass


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def meta_path(self) -> Path:
        return self.root / "run.json"

    @property
    def specs_dir(self) -> Path:
        return self.root / "specs"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def suite_json(self) -> Path:
        return self.root / "suite.json"

    @classmethod
    def create(cls, root: Path) -> RunDir:
        if (root / "run.json").exists():
            raise RunDirError(f"{root} already holds a run; choose another --out or --resume it")
        try:
            for sub in LAYOUT_DIRS:
                (root / sub).mkdir(parents=True, exist_ok=True)
            probe = root / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(f"cannot write to {root}: {exc.strerror}") from None
        return cls(root)

    def discard(self, created_root: bool) -> None:
        """Undo `create` for a run that never got its plan: the whole directory if this run made it,
        else only the entries a run writes (the user's own files in a pre-existing --out stay)."""
        if created_root:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for name in LAYOUT_DIRS:
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in ("run.json", "suite.toml", "suite.json", ".write-test"):
            (self.root / name).unlink(missing_ok=True)

    @classmethod
    def open(cls, root: Path) -> RunDir:
        """An existing run directory, checked enough to resume it."""
        run = cls(root)
        if not run.meta_path.is_file():
            raise RunDirError(f"{root} is not a run directory (no run.json)")
        try:
            meta = load_json_bytes(run.meta_path.read_bytes(), str(run.meta_path))
        except OSError as exc:
            raise RunDirError(f"{run.meta_path} is unreadable ({exc.strerror}); cannot resume") from None
        except ParseError as exc:
            raise RunDirError(f"{exc}; cannot resume") from None
        if not isinstance(meta, dict):
            raise RunDirError(f"{run.meta_path} is not a JSON object; cannot resume")
        return run

    def planned_specs(self) -> list[JobSpec]:
        """The specs in planned order (run.json "plan"), each validated against its content id."""
        plan = self.meta().get("plan")
        if not isinstance(plan, list) or not plan:
            raise RunDirError(f"{self.root} has no job plan (it stopped before planning); start a new run")
        specs = []
        for sid in plan:
            if not isinstance(sid, str) or not SPEC_ID.fullmatch(sid):
                raise RunDirError(
                    f"{self.meta_path}: plan holds {str(sid)[:80]!r}, not a spec id; cannot resume"
                )
            path = self.paths_for(sid).spec
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
        return self.paths_for(spec.spec_id)

    def paths_for(self, spec_id: str) -> JobPaths:
        return JobPaths(
            spec=self.specs_dir / f"{spec_id}.json",
            report=self.reports_dir / f"{spec_id}.json",
            log=self.root / "logs" / f"{spec_id}.log",
            data_dir=self.data_dir,
        )

    def spec_files(self) -> list[Path]:
        return sorted(self.specs_dir.glob("*.json")) if self.specs_dir.is_dir() else []

    def report_files(self) -> list[Path]:
        return sorted(self.reports_dir.glob("*.json")) if self.reports_dir.is_dir() else []

    def write_spec(self, spec: JobSpec) -> None:
        write_text_atomic(self.paths(spec).spec, spec.model_dump_json(indent=2))

    def write_suite(self, source: Path, suite: Suite) -> None:
        """The suite file as given (suite.toml) and as run, after command-line options (suite.json)."""
        write_text_atomic(self.root / "suite.toml", source.read_text())
        write_text_atomic(self.suite_json, suite.model_dump_json(indent=2))

    def stored_suite(self) -> Suite:
        """The suite this run was planned from (after options), for resuming it or checking a re-run."""
        try:
            return Suite.model_validate_json(self.suite_json.read_bytes())
        except (OSError, ValidationError) as exc:
            raise RunDirError(
                f"{self.suite_json}: missing or invalid ({type(exc).__name__}); cannot resume"
            ) from None

    def meta(self) -> dict[str, Any]:
        """run.json's fields; {} before the run has one. Raises RunDirError for a damaged one."""
        if not self.meta_path.exists():
            return {}
        try:
            meta = load_json_bytes(self.meta_path.read_bytes(), str(self.meta_path))
        except ParseError as exc:
            raise RunDirError(str(exc)) from None
        if not isinstance(meta, dict):
            raise RunDirError(f"{self.meta_path} is not a JSON object")
        return meta

    def update_meta(self, **fields: Any) -> None:
        write_text_atomic(self.meta_path, json.dumps({**self.meta(), **fields}, indent=2, sort_keys=True))


def machine_label() -> str:
    return f"{platform.node() or 'host'}: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
