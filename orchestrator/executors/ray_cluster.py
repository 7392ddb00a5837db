"""The Ray executor: each job is one Ray task that asks for exactly its spec's resources.

On the node Ray places it, the task launches the runner through the chosen isolation backend, pinned
to the GPU ids Ray assigned (`ray.get_gpu_ids()`), finalizes the report there and returns it with the
node's facts. The driver writes it, decides retries (a lost node is `crashed`, retried per --retries;
Ray places the retry on a node that is alive) and collects exactly as the local executor does. The
run directory must be the same path on every node (one machine, or a shared filesystem).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.backends.base import Backend, JobPaths
from orchestrator.closing import Closeable
from orchestrator.collect import read_report, synthetic_report
from orchestrator.executors import ExecutorError, import_ray
from orchestrator.executors.base import LoopResult
from orchestrator.jobs import (
    History,
    JobPolicy,
    advance,
    archive,
    attempt_once,
    label,
    line,
    next_run,
    progress_bar,
    record_interrupt,
    reusable,
)
from orchestrator.rundir import RunDir
from orchestrator.signals import install_interrupt_handlers
from schemas.common import write_text_atomic
from schemas.job import Device, JobSpec
from schemas.report import NodeInfo, Placement, RunReport

FORWARDED_PREFIX = "BENCH_"  # the driver's BENCH_* settings reach the runners as they do locally
_remote: Any = None  # the Ray remote function, made on first use (Ray is imported only when asked for)


def _reachable(address: str | None) -> None:
    """HOST:PORT that does not answer fails in one line now, not after Ray's minute of retries."""
    addr = address or ""
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or "://" in addr:
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ExecutorError(
            f"--executor ray: no Ray cluster answers at {address} ({exc.strerror or exc}); "
            "start one (`ray start --head`, docs/ray.md) or fix --ray-address"
        ) from None


class RayExecutor(Closeable):
    """Joins the cluster when made, leaves it (if it joined) on close()."""

    name = "ray"

    def __init__(self, address: str | None, log: Callable[[str], None]):
        """ADDRESS: 'auto' (the one `ray start` made on this machine), HOST:PORT, or None (RAY_ADDRESS,
        else a new single-machine Ray)."""
        ray = import_ray()
        self.owned = False
        self.gpu_jobs = False  # device() found GPUs: "auto" threads are per GPU
        if ray.is_initialized():
            return
        _reachable(address)
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ExecutorError(
                f"--executor ray: cannot reach the Ray cluster at {address or 'RAY_ADDRESS'}: {first}"
            ) from None
        self.owned = True
        install_interrupt_handlers()  # ray.init installs its own SIGINT/SIGTERM handlers
        res = ray.cluster_resources()
        log(
            f"executor: ray ({len(ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs)"
        )

    def close(self) -> None:
        if self.owned:
            import_ray().shutdown()
            self.owned = False

    def device(self, gpus: str) -> tuple[Device, str]:
        """With Ray, GPU ids are the cluster's to assign: `all` = one GPU per job if any node declares
        GPUs, `none` = CPU jobs; explicit ids would name devices on an unknown node."""
        if gpus == "none":
            return Device(kind="cpu"), ""
        if gpus != "all":
            raise ExecutorError(
                f"--executor ray: --gpus takes all or none (Ray assigns GPU ids); got {gpus!r}"
            )
        if import_ray().cluster_resources().get("GPU", 0) > 0:
            self.gpu_jobs = True
            return Device(kind="gpu"), ""
        return Device(kind="cpu"), "--gpus all: the Ray cluster declares no GPUs, running on the CPU"

    def cores_per_job(self) -> int | None:
        """What "auto" threads become: CPUs every node that runs the jobs can give each job (the
        driver's own count says nothing about those nodes). GPU clusters: the fewest CPUs per GPU on
        a GPU node, so one job per GPU still fits; else the fewest CPUs on a node that has any (a
        head started with --num-cpus 0 runs no job and does not count)."""
        nodes = [n["Resources"] for n in import_ray().nodes() if n.get("Alive")]
        gpu_nodes = [r for r in nodes if r.get("GPU", 0) > 0 and r.get("CPU", 0) > 0]
        if gpu_nodes and self.gpu_jobs:
            return max(1, int(min(r["CPU"] // r["GPU"] for r in gpu_nodes)))
        cpus = [r["CPU"] for r in nodes if r.get("CPU", 0) > 0]
        return max(1, int(min(cpus))) if cpus else None

    def describe(self) -> dict[str, object]:
        return {"gpu_mode": None, "slots": "assigned by Ray per task (reports: placement)"}

    def run_jobs(
        self, run: RunDir, specs: list[JobSpec], backend: Backend, console: Console, policy: JobPolicy
    ) -> LoopResult:
        """A contaminated job is re-run without a quiet wait: the driver cannot see the node's load.
        Jobs sharing a node load each other: docs/ray.md advises one job per node for timing."""
        ray = import_ray()
        result = LoopResult()
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIX)}
        variant = backend.variant
        outstanding: dict[Any, tuple[JobSpec, History]] = {}
        nodes: dict[str, Any] = dict(run.meta().get("nodes", {}))

        def submit(spec: JobSpec, history: History) -> None:
            paths = run.paths(spec)
            archive(paths)  # a previous report (earlier attempt, or a resumed run's) moves aside, never lost
            ref = (
                _task()
                .options(**resources(spec))
                .remote(
                    spec.model_dump_json(), paths, backend.name, variant, history.attempt, history.why, env
                )
            )
            outstanding[ref] = (spec, history)

        with progress_bar(console) as progress:
            overall = progress.add_task("all jobs (ray)", total=len(specs))
            try:
                for spec in specs:
                    if reusable(
                        read_report(run.paths(spec).report)[0], backend.environment_id(spec.runner_env)
                    ):
                        result.kept += 1
                        progress.advance(overall)
                    else:
                        submit(spec, History())
                while outstanding:
                    (ref,), _ = ray.wait(list(outstanding), num_returns=1)
                    spec, history = outstanding.pop(ref)
                    paths = run.paths(spec)
                    report, node = _outcome(ref, spec, paths)
                    if node is not None:
                        nodes[spec.spec_id] = node
                        run.update_meta(nodes=nodes)
                    # Losing a node is the fleet's fault, not the job's: it gets one retry elsewhere
                    # even without --retries.
                    lost = node is None and report.status == "crashed"
                    why = next_run(report, history, policy, max(policy.retries, 1) if lost else None)
                    if why is not None:
                        progress.console.print(
                            f"[yellow]{escape(why)}[/] {label(spec)}: attempt {history.attempt + 1}"
                        )
                        advance(history, why)
                        submit(spec, history)
                        continue
                    progress.advance(overall)
                    where = f"  [dim]{escape(_where(node))}[/]" if node else ""
                    progress.console.print(line(spec, report, paths.log) + where)
                    if report.status != "ok":
                        result.failed.append((spec, report))
            except KeyboardInterrupt:
                result.interrupted = True
                _cancel(ray, list(outstanding))
                started = [s for s, _ in outstanding.values() if run.paths(s).log.exists()]
                queued = [s for s, _ in outstanding.values() if not run.paths(s).log.exists()]
                record_interrupt(run, started, queued)
        return result


def resources(spec: JobSpec) -> dict[str, float]:
    """What the task asks Ray for: its GPUs (one unless the spec names several) and its threads."""
    gpus = float(len(spec.device.gpu_ids) or 1) if spec.device.kind == "gpu" else 0.0
    return {"num_gpus": gpus, "num_cpus": float(spec.threads.intra_op)}


@contextlib.contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _job_task(
    spec_json: str,
    paths: JobPaths,
    backend_name: str,
    variant: str,
    attempt: int,
    why: str,
    env: dict[str, str],
) -> tuple[str, dict[str, Any]]:
    """Runs on the node Ray chose: one attempt of one job, through a backend made on that node."""
    import ray

    from orchestrator.backends import select_backend

    spec = JobSpec.model_validate_json(spec_json)
    # Ray hands ids as strings or ints, and under CUDA_VISIBLE_DEVICES of UUIDs they are UUIDs.
    gpu_ids = tuple(str(i) for i in ray.get_gpu_ids()) if spec.device.kind == "gpu" else ()
    node = {
        "hostname": socket.gethostname(),
        "ip": ray.util.get_node_ip_address(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": list(gpu_ids),
        "attempt": attempt,
    }
    where = f"on {node['hostname']} (ray node {node['node_id']}, GPU ids [{', '.join(gpu_ids)}])"
    with (
        _environ(env),
        select_backend(
            backend_name, [spec.framework], lambda _: None, variant, bool(gpu_ids), spec.framework_version is not None
        ) as backend,
    ):
        # Ray runs tasks side by side on its nodes: whatever the GPUs, that is throughput mode.
        placement = Placement(backend=backend.name, mode="throughput", gpus=gpu_ids)
        report = attempt_once(spec, paths, backend, lambda _: None, placement, attempt, why, where)
    return report.model_dump_json(indent=2), node


def _task() -> Any:
    global _remote
    if _remote is None:
        _remote = import_ray().remote(max_retries=0)(_job_task)  # retries are the driver's
    return _remote


def _outcome(ref: Any, spec: JobSpec, paths: JobPaths) -> tuple[RunReport, dict[str, Any] | None]:
    """The task's report, or the driver's record of why there is none (a lost node or worker is
    `crashed`, hence retryable; an exception in the task is an `error`)."""
    ray = import_ray()
    try:
        text, node = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if exc.cause is not None else exc
        msg = f"the Ray task failed: {type(cause).__name__}: {cause}"
        return synthetic_report(spec, "error", msg[:2000], paths.report), None
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        msg = f"Ray lost the job's node or worker ({type(exc).__name__}: {first[:300]}); log: {paths.log}"
        with open(paths.log, "a") as fh:
            fh.write(f"# ray: {type(exc).__name__}: the node or worker running this attempt was lost\n")
        return synthetic_report(spec, "crashed", msg, paths.report), None
    report = RunReport.model_validate_json(text)
    report = report.model_copy(
        update={"node": NodeInfo(hostname=node["hostname"], ip=node["ip"], ray_node_id=node["node_id"])}
    )
    # the same path on a shared filesystem; the driver's copy otherwise
    write_text_atomic(paths.report, report.model_dump_json(indent=2))
    return report, node


def _where(node: dict[str, Any]) -> str:
    gpus = f" GPU {','.join(map(str, node['gpu_ids']))}" if node["gpu_ids"] else ""
    return f"{node['hostname']} node {node['node_id'][:8]}{gpus}"


def _cancel(ray: Any, refs: list[Any], grace: float = 10.0) -> None:
    """Ctrl-C: every outstanding task is cancelled. A running one first gets KeyboardInterrupt, so its
    backend kills the runner's process group or container as it does locally; whatever has not ended
    after GRACE seconds is force-cancelled (its worker dies, and the runner with it: PDEATHSIG)."""
    for ref in refs:
        ray.cancel(ref)
    _, left = ray.wait(refs, num_returns=len(refs), timeout=grace) if refs else ([], [])
    for ref in left:
        ray.cancel(ref, force=True)
