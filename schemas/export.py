"""JSON Schema export: the files in schemas/json/ are what non-Python tools validate against."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.job import JobSpec
from schemas.report import RunReport

JSON_DIR = Path(__file__).parent / "json"
EXPORTED: dict[str, type[BaseModel]] = {"job_spec": JobSpec, "run_report": RunReport}


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in EXPORTED.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(model))
        written.append(path)
    return written
