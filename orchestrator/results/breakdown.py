"""Where a run's wall time went: the measurer measured.

From the reports (each runner's timing split and the process wall time the orchestrator saw) and the
run's own wall time in run.json:

    timed training   the clocked epochs (what the verdicts compare)
    evaluation       train and validation sets evaluated outside the clock, before and after epochs
    epoch setup      each epoch's time in the plug-in outside its clock: the batch order applied to
                     the data, split into batches, the device synchronised (and the little after it stops)
    imports          importing the framework
    data, build      loading the prepared data; building model, weights, optimizer
    startup          process start until the harness runs (interpreter, bench's own imports)
    bookkeeping      the rest of the harness's run (noise samples, fingerprint, report)
    process          launch and exit around the runner (backend, container start, teardown)
    re-runs          earlier attempts of re-run or retried jobs (reports/attempts/), whole
    orchestrator     the run's wall time not spent inside any job (planning, environments, quiet
                     waits, rendering before the end of the run)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.collect import read_report
from orchestrator.jobs import label
from orchestrator.results._format import Table
from orchestrator.results.tidy import Job, RunData
from schemas.report import RunReport

PARTS = ("timed training", "evaluation", "epoch setup", "imports", "data", "build", "startup", "bookkeeping",
         "process", "re-runs", "orchestrator")  # fmt: skip
JOB_PARTS = PARTS[:-2]  # re-runs and orchestrator belong to the run, not to one job


@dataclass(frozen=True)
class JobSpent:
    spec_id: str
    label: str  # arm, task, repeat (orchestrator/jobs.py: label)
    seconds: dict[str, float]  # JOB_PARTS -> seconds (only what its report measured)
    wall: float | None  # the process wall time the orchestrator saw


@dataclass(frozen=True)
class Breakdown:
    seconds: dict[str, float]  # PARTS -> seconds (only what was measured)
    wall: float | None  # the run's wall time (run.json), when recorded
    jobs: tuple[JobSpent, ...] = ()

    def shares(self) -> dict[str, float]:
        total = self.wall or sum(self.seconds.values())
        return {k: v / total for k, v in self.seconds.items()} if total > 0 else {}

    def line(self) -> str:
        """'wall 727 s: timed training 74%, evaluation 18.6%, ...' (largest first)."""
        shares = sorted(self.shares().items(), key=lambda kv: -kv[1])
        head = f"wall {self.wall:.0f} s" if self.wall else f"{sum(self.seconds.values()):.0f} s in jobs"
        return head + ": " + ", ".join(f"{k} {_pct(v)}" for k, v in shares if v > 0)

    def as_json(self) -> dict[str, object]:
        jobs = [{"spec_id": j.spec_id, "job": j.label, "wall_seconds": j.wall,
                 "seconds": {k: round(v, 3) for k, v in j.seconds.items()}} for j in self.jobs]  # fmt: skip
        return {"wall_seconds": self.wall, "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "shares": {k: round(v, 4) for k, v in self.shares().items()}, "jobs": jobs}  # fmt: skip

    def table(self) -> Table:
        """One row per job: its process wall time and the seconds of each part (a blank: not measured)."""
        parts = [p for p in JOB_PARTS if any(p in j.seconds for j in self.jobs)]
        rows = tuple((j.label, _secs(j.wall), *(_secs(j.seconds.get(p)) for p in parts)) for j in self.jobs)
        csv_rows = tuple((j.spec_id, j.label, _raw(j.wall), *(_raw(j.seconds.get(p)) for p in parts))
                         for j in self.jobs)  # fmt: skip
        return Table(
            name="wall_time",
            title="Where the wall time went, per job",
            caption="Seconds of each job's process, by part (orchestrator/results/breakdown.py); the run's "
            "re-runs and the orchestrator's time between jobs are in the summary line.",
            headers=("job", "wall s", *parts),
            rows=rows,
            csv_headers=("spec_id", "job", "wall_seconds", *(p.replace(" ", "_") + "_seconds" for p in parts)),
            csv_rows=csv_rows,
        )


def _secs(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _raw(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _pct(share: float) -> str:
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def _job_parts(report: RunReport) -> dict[str, float]:
    t = report.timing
    if t is None:
        return {}
    parts = {"timed training": t.total_train_seconds, "imports": t.import_seconds, "data": t.data_seconds,
             "build": t.build_seconds}  # fmt: skip
    if t.evaluation_seconds is not None:
        parts["evaluation"] = t.evaluation_seconds
    if t.epoch_setup_seconds is not None:
        parts["epoch setup"] = t.epoch_setup_seconds
    if t.startup_seconds is not None:
        parts["startup"] = t.startup_seconds
    if t.runner_seconds is not None:
        named = t.import_seconds + t.data_seconds + t.build_seconds + t.total_train_seconds
        outside = (t.evaluation_seconds or 0.0) + (t.epoch_setup_seconds or 0.0)
        parts["bookkeeping"] = max(0.0, t.runner_seconds - named - outside)
        if report.wall_seconds is not None:
            parts["process"] = max(0.0, report.wall_seconds - t.runner_seconds - (t.startup_seconds or 0.0))
    return parts


def _attempts_wall(run_dir: Path) -> float:
    total = 0.0
    for path in sorted((run_dir / "reports" / "attempts").glob("*.json")):
        report, _ = read_report(path)
        if report is not None and report.wall_seconds is not None:
            total += report.wall_seconds
    return total


def _in_plan_order(job: Job) -> tuple[str, str, int, str]:
    """Arm, task, repeat: each arm's jobs together, repeats in order (spec ids are hashes)."""
    if job.spec is None:
        return ("~", "", 0, job.spec_id)
    return (label(job.spec).split()[0], job.spec.workload.task, job.spec.repeat, job.spec_id)


def wall_breakdown(run: RunData, run_dir: Path) -> Breakdown:
    seconds = dict.fromkeys(PARTS, 0.0)
    in_jobs = 0.0
    jobs = []
    for job in sorted(run.jobs, key=_in_plan_order):
        if job.report is None:
            continue
        parts = _job_parts(job.report)
        for part, value in parts.items():
            seconds[part] += value
        in_jobs += job.report.wall_seconds or 0.0
        name = label(job.spec) if job.spec is not None else job.spec_id
        jobs.append(JobSpent(job.spec_id, " ".join(name.split()), parts, job.report.wall_seconds))
    seconds["re-runs"] = _attempts_wall(run_dir)
    wall = run.meta.get("wall_seconds")
    wall = float(wall) if isinstance(wall, int | float) and wall > 0 else None
    if wall is not None:
        seconds["orchestrator"] = max(0.0, wall - in_jobs - seconds["re-runs"])
    return Breakdown({k: v for k, v in seconds.items() if v > 0}, wall, tuple(jobs))


def write_breakdown(breakdown: Breakdown, path: Path) -> Path:
    from schemas.common import write_text_atomic

    return write_text_atomic(path, json.dumps(breakdown.as_json(), indent=2) + "\n")
