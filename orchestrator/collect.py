"""Turn (what the process did, what the runner wrote) into one trustworthy RunReport.

Success needs both: a valid report saying `ok` AND a clean exit. Anything else is recorded with the
reason, never dropped:

    no report / unreadable report ... crashed (killed by a signal, or exited without a report)
    hard timeout .................... timeout (the process group was killed)
    killed by the OOM killer ........ oom
    report ok but exit code != 0 .... crashed
    GPU job, runner saw no GPU ...... error (never compared with GPU numbers)
    report with another status ...... kept as the runner classified it
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from orchestrator.backends.base import Outcome
from schemas.common import write_text_atomic
from schemas.datasets import METRIC_FOR_TASK
from schemas.errors import describe
from schemas.job import JobSpec
from schemas.report import ErrorInfo, NodeInfo, Placement, RunReport

MAX_REPORT_BYTES = 20 * 1024 * 1024  # a 10,000-epoch report is ~3 MB; anything far larger is garbage


def _process_words(outcome: Outcome) -> str:
    code = outcome.exit_code
    if outcome.timed_out:
        return f"killed after the hard deadline ({outcome.wall_seconds:.0f}s)"
    if outcome.oom_killed:
        return "killed by the out-of-memory killer (memory limit reached)"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
            # Without a container the kernel's OOM killer is indistinguishable from kill -9.
            return f"killed by {name}" + (
                " (the kernel's OOM killer sends it too: see dmesg)" if code == -9 else ""
            )
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def read_report(path: Path) -> tuple[RunReport | None, str]:
    """(report, '') or (None, why it cannot be trusted)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None, "no report was written"
    if size > MAX_REPORT_BYTES:
        return None, f"report is {size} bytes, over the {MAX_REPORT_BYTES}-byte cap"
    try:
        return RunReport.model_validate_json(path.read_bytes()), ""
    except ValidationError as exc:
        return None, f"report is not a valid RunReport: {describe(exc, path.name)}"


def synthetic_report(spec: JobSpec, status: str, message: str, path: Path | None = None) -> RunReport:
    """The orchestrator's own record of a job the runner could not report on."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    report = RunReport(
        spec_id=spec.spec_id,
        framework=spec.framework,
        status=status,  # type: ignore[arg-type]
        started_at=now,
        finished_at=now,
        metric=METRIC_FOR_TASK[spec.workload.task],  # type: ignore[arg-type]
        error=ErrorInfo(type="RunnerProcess" if status != "skipped" else "Skipped", message=message),
    )
    if path is not None:
        write_text_atomic(path, report.model_dump_json(indent=2))
    return report


@dataclass(frozen=True)
class Judgement:
    status: str  # the effective status: the report's own, or what the trust rules make of it
    reason: str  # why, for anything but ok ('' for ok)
    foreign: bool = False  # the report is not about this spec at all: keep it as evidence, never use it


def _ran_elsewhere(report: RunReport) -> str:
    """A GPU job placed on a GPU by UUID whose runner reports another device (a CUDA_VISIBLE_DEVICES
    the framework ignored, an ordering mix-up) is not a measurement of the slot it was given."""
    placed = report.placement.gpus if report.placement is not None else ()
    ran = report.env.gpu.gpu_uuid if report.env is not None and report.env.gpu is not None else None
    if ran and placed and all(g.startswith(("GPU-", "MIG-")) for g in placed) and ran not in placed:
        return f"placed on {','.join(placed)} but the runner ran on {ran}"
    return ""


def _gpus(spec: JobSpec, report: RunReport) -> str:
    placed = report.placement.gpus if report.placement is not None else ()
    ids = placed or tuple(map(str, spec.device.gpu_ids))
    return f"GPU {','.join(ids)}" if ids else "a GPU"


def judge(spec: JobSpec, report: RunReport, process: str | None = None) -> Judgement:
    """The trust rules, in one place, for the orchestrator finishing a job and for the results
    reading a run directory back. `process`: how the runner process ended, in words, when known."""
    if report.spec_id != spec.spec_id:
        return Judgement("crashed", f"report is for spec {report.spec_id}, not {spec.spec_id}", True)
    if report.framework != spec.framework:
        why = f"report framework {report.framework!r} != spec framework {spec.framework!r}"
        return Judgement("crashed", why, True)
    if report.status == "ok" and report.exit_code not in (None, 0):
        # Success needs both the report and the process to agree (design: "record both").
        ended = process or f"exited with code {report.exit_code}"
        return Judgement("crashed", f"report says ok but the runner {ended}")
    if report.status == "ok" and spec.device.kind == "gpu" and (report.env is None or report.env.gpu is None):
        # A GPU job that silently ran on the CPU would be compared with GPU numbers: refuse it.
        return Judgement("error", f"spec asks for {_gpus(spec, report)} but the runner saw none")
    if report.status == "ok" and (elsewhere := _ran_elsewhere(report)):
        return Judgement("error", elsewhere)
    if report.status == "ok":
        return Judgement("ok", "")
    if report.error is not None:
        return Judgement(report.status, f"{report.error.type}: {report.error.message}")
    if report.status == "diverged" and report.diverged_epoch is not None:
        return Judgement(report.status, f"diverged at epoch {report.diverged_epoch}")
    return Judgement(report.status, report.status)


def finalize(
    spec: JobSpec, outcome: Outcome, report_path: Path, log_path: Path, placement: Placement | None = None
) -> RunReport:
    """The one report a job leaves: the runner's, with what the process did (and where it was
    placed) recorded beside it and its status corrected by the trust rules, or the orchestrator's
    own record when there is none."""
    report, problem = read_report(report_path)
    how = _process_words(outcome)
    process = {
        "exit_code": outcome.exit_code,
        "wall_seconds": outcome.wall_seconds,
        "node": NodeInfo(hostname=socket.gethostname()),  # finalize runs on the job's node
        "placement": placement,
    }
    if report is not None:
        report = report.model_copy(update=process)
        verdict = judge(spec, report, how)
        if verdict.status == "ok" and (outcome.timed_out or outcome.exit_code is None):
            verdict = Judgement("crashed", f"report says ok but the runner {how}")
        if verdict.foreign:
            problem, report = verdict.reason, None
        elif verdict.status != report.status:
            kind = "DeviceMismatch" if verdict.status == "error" else "RunnerProcess"
            message = verdict.reason + (f"; log: {log_path}" if kind == "RunnerProcess" else "")
            error = ErrorInfo(type=kind, message=message)
            report = report.model_copy(update={"status": verdict.status, "error": error})
    if report is None:
        if report_path.exists():  # keep the evidence beside the record, never trust it
            report_path.replace(report_path.with_suffix(".json.invalid"))
        status = "timeout" if outcome.timed_out else "oom" if outcome.oom_killed else "crashed"
        report = synthetic_report(spec, status, f"runner {how}; {problem}; log: {log_path}")
        report = report.model_copy(update=process)
    write_text_atomic(report_path, report.model_dump_json(indent=2))
    return report
