"""The contract between orchestrator and runners: pydantic v2 models, numpy-free at import.

Exported JSON Schema files live in `schemas/json/`; `python -m schemas` rewrites them and a unit
test fails when they are stale.
"""

from schemas.datasets import CATALOG, DatasetInfo
from schemas.job import SCHEMA_VERSION, SGD, Adam, Dense, Device, JobSpec, Threads, Timeouts, Workload
from schemas.report import (
    STATUSES,
    EnvInfo,
    EpochRecord,
    ErrorInfo,
    Fairness,
    GpuInfo,
    RunReport,
    Timing,
)

__all__ = [
    "CATALOG",
    "SCHEMA_VERSION",
    "STATUSES",
    "Adam",
    "DatasetInfo",
    "Dense",
    "Device",
    "EnvInfo",
    "EpochRecord",
    "ErrorInfo",
    "Fairness",
    "GpuInfo",
    "JobSpec",
    "RunReport",
    "SGD",
    "Threads",
    "Timeouts",
    "Timing",
    "Workload",
]
