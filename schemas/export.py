"""JSON Schema export: the files in schemas/json/ are what non-Python tools validate against."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.common import write_text_atomic
from schemas.job import JobSpec
from schemas.report import RunReport

JSON_DIR = Path(__file__).parent / "json"
EXPORTED: dict[str, type[BaseModel]] = {"job_spec": JobSpec, "run_report": RunReport}


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = JSON_DIR) -> list[Path]:
    """Raises OSError (a file where the directory should be, no permission, a full disk); a file is
    either written whole or left as it was."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        write_text_atomic(directory / f"{name}.schema.json", render(model))
        for name, model in EXPORTED.items()
    ]
