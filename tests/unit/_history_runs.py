"""Synthetic finished runs for the history and compare tests: realistic run-to-run noise.

`_factories.make_report` varies epoch times within a job but seeds that noise from the spec id, so
two runs of the same specs would time identically; a real repeat differs from the next by a few
percent (the machine, the allocator, caches). Here every job's epoch times and final validation
metric get their own lognormal factor, drawn from the run's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from schemas import JobSpec, RunReport
from tests.unit._factories import make_report, make_spec, write_run

# Per-task baseline: (epoch seconds per framework, final validation metric per framework).
BASE: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "classification": ({"pytorch": 0.7, "tensorflow": 1.0}, {"pytorch": 0.85, "tensorflow": 0.85}),
    "regression": ({"pytorch": 0.02, "tensorflow": 0.03}, {"pytorch": 0.34, "tensorflow": 0.21}),
}


def timed_run(
    root: Path,
    *,
    seed: int,
    name: str = "run",
    date: str = "2026-01-01T00:00:00+00:00",
    slowdown: float = 1.0,
    quality: float = 1.0,
    sigma: float = 0.025,
    repeats: int = 5,
    tasks: tuple[str, ...] = ("classification", "regression"),
    frameworks: tuple[str, ...] = ("pytorch", "tensorflow"),
    cpu_model: str = "Synthetic CPU",
    epochs: int = 4,
    meta: dict[str, Any] | None = None,
) -> Path:
    """A complete run: every epoch time x `slowdown`, every job's metric target x `quality` (the
    factory's curves approach it: after 4 epochs accuracy moves by ~0.74x and MSE by ~0.4x the
    change), each job with its own lognormal noise exp(N(0, sigma)) on times, a tenth on quality."""
    rng = np.random.default_rng(seed)
    jobs: list[tuple[JobSpec, RunReport | str | None]] = []
    for task in tasks:
        seconds, values = BASE[task]
        for r in range(repeats):
            for fw in frameworks:
                spec = make_spec(fw, task, r, epochs=epochs)
                report = make_report(
                    spec,
                    epoch_seconds=seconds[fw] * slowdown * float(np.exp(sigma * rng.standard_normal())),
                    final_val=values[fw] * quality * float(np.exp(sigma / 10 * rng.standard_normal())),
                    noise=0.005,
                )
                if cpu_model != "Synthetic CPU" and report.env is not None:
                    report = report.model_copy(
                        update={"env": report.env.model_copy(update={"cpu_model": cpu_model})}
                    )
                jobs.append((spec, report))
    run_meta = {
        "name": name,
        "created_at": date,
        "state": "complete",
        "suite": "paper",
        "machine": f"host: {cpu_model}, 2 CPUs",
        **(meta or {}),
    }
    return write_run(root, jobs, run_meta)
