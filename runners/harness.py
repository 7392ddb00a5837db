"""The framework-neutral part of every runner: spec in, one report out, whatever happens.

A framework plug-in (runners/<name>/session.py) only builds the model and runs timed epochs; data,
initial weights, batch order, evaluation, status classification and the atomic report write are
here, once, so no runner can drift from the others.

    python -m runners.pytorch --spec job.json --out report.json [--data-dir DIR]

Exit codes: 0 report written with status ok; 1 report written with another status; 2 usage error
(unreadable or invalid spec: one line on stderr, no report, no traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError

from runners import clustering, datasets, environment, fairness, gpu, module_for, noise, resources
from runners.noise import Window
from schemas.common import event_line, parse_cpulist, write_text_atomic
from schemas.datasets import METRIC_FOR_TASK
from schemas.errors import describe
from schemas.job import MAIN_PACKAGE, JobSpec
from schemas.layers import WEIGHTED
from schemas.report import EpochRecord, ErrorInfo, GpuTelemetry, Noise, RunReport, Timing
from schemas.tiers import TUNED

HARNESS_START = time.perf_counter()  # the harness module runs first in every runner process


def _since_process_start() -> float | None:
    """Seconds from this process's start (the kernel's record) to now: the interpreter's start and
    bench's own imports, before any framework is touched. Linux only; None elsewhere."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - started)


STARTUP_SECONDS = _since_process_start()


class Diverged(RuntimeError):
    def __init__(self, epoch: int, value: float):
        super().__init__(f"training loss became {value} in epoch {epoch}")
        self.epoch = epoch


class Timeout(RuntimeError):
    pass


class Session(Protocol):
    """What a framework plug-in returns from `build`."""

    def param_count(self) -> int: ...

    def outputs(self, split: fairness.Split) -> np.ndarray:
        """Raw outputs (logits / regression values) for the whole train or val split, float32 numpy,
        inference mode: computed in the framework from the copy the session put on its device when
        it was built (never converted again), in passes as large as the framework runs fastest."""

    def codes(self, split: fairness.Split) -> np.ndarray:
        """Autoencoder tasks only: the code layer's outputs (workload.code_layer, after its
        activation) for the whole split, inference mode, float32 numpy."""

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        """Train one epoch in `perm` order; return (seconds of training steps only, device
        synchronised; mean batch loss weighted by batch size)."""

    first_steps_loss: tuple[int, float] | None
    """(samples, mean training loss) over the first schemas.common.FIRST_STEPS batches of epoch 1."""

    def is_oom(self, exc: BaseException) -> bool: ...

    def fingerprint(self) -> dict[str, Any]:
        """framework, framework_version, threads (read back), gpu, and the fairness fields only the
        framework can tell: optimizer (read back), loss, execution, notes, tf32_applied, input_path,
        host_syncs ({"per_step": n, "per_epoch": n})."""

    # Optional, for GPU jobs (read with getattr): `gpu_uuid` (str: the device CUDA runs the job on),
    # `device_timing` ((CUDA-event seconds of the last timed epoch, device idle when the host clock
    # stopped)) and `memory_peak()` -> (bytes, "which allocator counter") | None.


class Plugin(Protocol):
    def build(
        self, spec: JobSpec, data: datasets.Arrays, weights: list[tuple[np.ndarray, np.ndarray]]
    ) -> Session: ...


def _tier_note(spec: JobSpec, tuning: tuple[str, ...]) -> tuple[str, ...]:
    """A tuned job to which none of its framework's tuned settings applied says so: it ran as its
    matched tier, and a reader of its report must not take it for a tuned figure."""
    if spec.tier != "tuned" or tuning:
        return ()
    offered = TUNED.get(spec.framework, ())
    return (
        f"tier 'tuned': {'none of ' + '; '.join(offered) + ' applies' if offered else 'nothing is offered'} "
        f"for {spec.framework} on this job (schemas/tiers.py), so it ran as its matched tier",
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _subset(data: datasets.Arrays, spec: JobSpec) -> datasets.Arrays:
    w = spec.workload
    return datasets.Arrays(
        data.x_train[: w.max_train_samples],
        data.y_train[: w.max_train_samples],
        data.x_val[: w.max_val_samples],
        data.y_val[: w.max_val_samples],
        data.meta,
    )


@dataclass
class Training:
    """One job's training and what it has produced so far: the report is built from these fields
    whether the job finished or failed, so a failure in epoch 7 still reports epochs 1-6."""

    spec: JobSpec
    session: Session | None = None
    epochs: list[EpochRecord] = field(default_factory=list)
    timing: Timing | None = None
    env: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    noise: Noise | None = None
    gpu_telemetry: GpuTelemetry | None = None
    initial_loss: float = math.nan
    evaluation_seconds: float = 0.0
    epoch_setup_seconds: float = 0.0  # train_epoch's wall time outside its own clock, summed
    order_sha256: str = ""
    labels: np.ndarray | None = None  # the validation labels (an autoencoder's targets are its inputs)
    readable: bool = True  # /proc/stat could be read: the epochs' outside_cores mean something

    def run(self, plugin_module: str, data_dir: Path) -> None:
        spec, w = self.spec, self.spec.workload
        deadline = time.monotonic() + spec.timeouts.job_seconds
        first, load_start, mhz_start = noise.sample(), _loadavg(), noise.cpu_mhz()
        self.readable = first.readable
        timed: list[Window] = []

        t = time.perf_counter()
        plugin: Plugin = importlib.import_module(plugin_module)  # type: ignore[assignment]
        import_s = time.perf_counter() - t

        t = time.perf_counter()
        data = _subset(datasets.load(datasets.prepare(w.dataset, data_dir)), spec)
        data_s = time.perf_counter() - t
        self.labels = data.y_val
        if w.task == "autoencoder":  # it learns to give back its inputs; the labels only score its codes
            data = datasets.Arrays(data.x_train, data.x_train, data.x_val, data.x_val, data.meta)

        info = w.info
        n = len(data.x_train)
        prepared = fairness.init_path(data_dir, w, info.n_features, n, spec.seed)
        if prepared.exists():
            weights, orders = fairness.load_init(prepared, sum(isinstance(x, WEIGHTED) for x in w.layers))
            init_source = f"prepared once by the orchestrator: {prepared.name}"
        else:
            weights, orders = fairness.initial_weights(w, spec.seed), None
            init_source = "generated in the runner (no prepared file)"
        t = time.perf_counter()
        self.session = session = plugin.build(spec, data, weights)
        build_s = time.perf_counter() - t

        monitor, nvml_why, gpu_static = None, "", {}
        if spec.device.kind == "gpu":
            uuid = getattr(session, "gpu_uuid", None) or environment.nvidia_gpu_uuid(0)
            monitor, nvml_why = gpu.GpuMonitor.open(uuid)
        try:
            self._train(session, data, weights, orders, monitor, timed, deadline)
        finally:
            if spec.device.kind == "gpu":
                self.gpu_telemetry = _telemetry(session, monitor, nvml_why)
            if monitor is not None:
                gpu_static = monitor.static()
                monitor.close()
        epoch_times = [e.train_seconds for e in self.epochs]
        self.timing = Timing(
            import_seconds=import_s,
            data_seconds=data_s,
            build_seconds=build_s,
            first_epoch_seconds=epoch_times[0],
            steady_epoch_seconds=float(np.median(epoch_times[1:])) if len(epoch_times) > 1 else None,
            total_train_seconds=sum(epoch_times),
            evaluation_seconds=self.evaluation_seconds,
            epoch_setup_seconds=self.epoch_setup_seconds,
            startup_seconds=STARTUP_SECONDS,
        )
        fp = session.fingerprint()
        gpu_fields = fp.get("gpu")
        if gpu_fields is not None and monitor is not None:
            gpu_fields = {**{k: v for k, v in gpu_static.items() if v is not None}, **gpu_fields}
        tel = self.gpu_telemetry
        if tel is not None and tel.source == "nvml":  # sampled after every epoch, not only at the end
            gpu_evidence = (tel.other_processes, tel.throttle_reasons)
        else:
            gpu_evidence = noise.gpu_others((gpu_fields or {}).get("gpu_uuid"))
        self.noise = _noise(first, timed, load_start, mhz_start, gpu_evidence)
        self.env = {
            **environment.base_fields(),
            "framework": fp["framework"],
            "framework_version": fp["framework_version"],
            "threads": fp["threads"],
            "gpu": gpu_fields,
        }
        self.fairness = {
            "dataset": w.dataset,
            "dataset_sha256": data.sha256(),
            "raw_sha256": data.meta.get("raw_sha256"),
            "train_samples": n,
            "val_samples": len(data.x_val),
            "init_weights_sha256": fairness.sha256_arrays([a for pair in weights for a in pair]),
            "batch_order_sha256": self.order_sha256,
            "param_count": session.param_count(),
            "initial_train_loss": self.initial_loss,
            "optimizer": fp["optimizer"],
            "loss": fp["loss"],
            "precision": spec.precision,
            "tf32": spec.tf32,
            "tf32_applied": fp.get("tf32_applied"),
            "input_path": fp.get("input_path"),
            "host_syncs": fp.get("host_syncs"),
            "execution": fp["execution"],
            "tier": spec.tier,
            "tuning": fp.get("tuning", ()),
            "notes": tuple(fp.get("notes", ())) + _tier_note(spec, fp.get("tuning", ())),
            "init_source": init_source,
            "first_steps_samples": session.first_steps_loss[0] if session.first_steps_loss else None,
            "first_steps_loss": session.first_steps_loss[1] if session.first_steps_loss else None,
        }

    def _train(
        self,
        session: Session,
        data: datasets.Arrays,
        weights: list[tuple[np.ndarray, np.ndarray]],
        orders: np.ndarray | None,
        monitor: gpu.GpuMonitor | None,
        timed: list[Window],
        deadline: float,
    ) -> None:
        """The epochs: each timed by the plug-in, then evaluated outside the clock."""
        spec, w = self.spec, self.spec.workload
        n = len(data.x_train)
        t = time.perf_counter()  # fairness.evaluate checks the output shape before any epoch
        self.initial_loss, _ = fairness.evaluate(session.outputs("train"), data.y_train, w.loss)
        self.evaluation_seconds += time.perf_counter() - t

        order_hash = hashlib.sha256()
        cumulative = 0.0
        for epoch in range(1, w.epochs + 1):
            perm = orders[epoch - 1] if orders is not None else fairness.permutation(n, spec.seed, epoch)
            order_hash.update(perm.astype(np.int64).tobytes())
            self.order_sha256 = order_hash.hexdigest()
            before = noise.sample()
            if monitor is not None:
                monitor.epoch_start()
            t = time.perf_counter()
            seconds, running = session.train_epoch(perm)
            self.epoch_setup_seconds += max(0.0, time.perf_counter() - t - seconds)
            timed.append(noise.between(before, noise.sample()))
            joules = monitor.epoch_end() if monitor is not None else None
            device = getattr(session, "device_timing", None)
            if not math.isfinite(running):
                raise Diverged(epoch, running)
            cumulative += seconds
            t = time.perf_counter()
            train_loss, train_metric = fairness.evaluate(session.outputs("train"), data.y_train, w.loss)
            val_loss, val_metric = fairness.evaluate(session.outputs("val"), data.y_val, w.loss)
            val_ari = self._clustering(session) if w.task == "autoencoder" else None
            self.evaluation_seconds += time.perf_counter() - t
            if not all(map(math.isfinite, (train_loss, val_loss))):
                raise Diverged(epoch, train_loss)
            self.epochs.append(
                EpochRecord(
                    epoch=epoch,
                    train_seconds=seconds,
                    cumulative_seconds=cumulative,
                    train_loss_running=running,
                    train_loss=train_loss,
                    train_metric=train_metric,
                    val_loss=val_loss,
                    val_metric=val_metric,
                    val_ari=val_ari,
                    outside_cores=round(timed[-1].outside_cores, 4) if self.readable else None,
                    device_seconds=device[0] if device else None,
                    device_idle_at_stop=device[1] if device else None,
                    energy_joules=joules,
                )
            )
            line = event_line(event="epoch", epoch=epoch, of=w.epochs, seconds=round(seconds, 4),
                              val_metric=val_metric)  # fmt: skip
            print(line, flush=True)
            if time.monotonic() > deadline and epoch < w.epochs:
                raise Timeout(f"job deadline of {spec.timeouts.job_seconds}s passed after epoch {epoch}")

    def _clustering(self, session: Session) -> float:
        """How well k-means on the validation codes (one cluster per class) recovers the labels."""
        n_classes = self.spec.workload.info.n_outputs
        found = clustering.kmeans(session.codes("val"), n_classes, self.spec.seed)
        return clustering.adjusted_rand_index(self.labels, found)


def _telemetry(session: Session, monitor: gpu.GpuMonitor | None, why: str) -> GpuTelemetry:
    """Runs in a `finally`: it must never turn a finished job into an error, nor hide the exception
    that ended a failed one, so every reading that can fail is guarded and says why instead."""
    fields: dict[str, Any] = {"source": why}
    try:
        if monitor is not None:
            fields = monitor.summary()
        peak = getattr(session, "memory_peak", None)
        measured = peak() if callable(peak) else None
        if measured is not None:
            fields["memory_peak_bytes"], fields["memory_peak_source"] = measured
    except Exception as exc:  # a sticky CUDA error, an allocator without statistics
        fields["memory_peak_source"] = f"not measured: {type(exc).__name__}: {str(exc)[:200]}"
    return GpuTelemetry(**fields)


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _noise(
    first: noise.Sample,
    timed: list[noise.Window],
    load_start: float | None,
    mhz_start: float | None,
    gpu_evidence: tuple[int | None, tuple[str, ...]],
) -> Noise:
    """The job's noise evidence: from the runner's start to its last epoch, and over the timed steps."""
    whole = noise.between(first, noise.sample())
    timed_seconds = sum(w.seconds for w in timed)
    timed_outside = sum(w.outside_cpu for w in timed) / timed_seconds if timed_seconds > 0 else None
    gpu_others, throttle = gpu_evidence
    return Noise(
        seconds=whole.seconds,
        outside_cpu_seconds=whole.outside_cpu,
        outside_cores=whole.outside_cores,
        timed_outside_cores=timed_outside,
        steal_seconds=whole.steal,
        throttled_seconds=whole.throttled,
        cpu_count=len(noise.watched_cpus() or ()) or os.cpu_count() or 1,
        loadavg_start=load_start,
        loadavg_end=_loadavg(),
        cpu_mhz_start=mhz_start,
        cpu_mhz_end=noise.cpu_mhz(),
        gpu_other_processes=gpu_others,
        gpu_throttle_reasons=throttle,
        readable=first.readable,
    )


def _classify(exc: BaseException, session: Session | None) -> str:
    if isinstance(exc, Diverged):
        return "diverged"
    if isinstance(exc, Timeout):
        return "timeout"
    if isinstance(exc, MemoryError) or (session is not None and session.is_oom(exc)):
        return "oom"
    return "error"


def run(spec: JobSpec, plugin_module: str, data_dir: Path, out: Path) -> RunReport:
    started = _now()
    status, error, diverged_epoch = "ok", None, None
    training = Training(spec)
    try:
        training.run(plugin_module, data_dir)
    except Exception as exc:  # every failure must still produce a report
        status = _classify(exc, training.session)
        diverged_epoch = exc.epoch if isinstance(exc, Diverged) else None
        tail = "".join(traceback.format_exception(exc)).splitlines()[-12:]
        error = ErrorInfo(type=type(exc).__name__, message=str(exc)[:2000], traceback_tail=tail)
    if training.timing is not None:
        runner = time.perf_counter() - HARNESS_START
        training.timing = training.timing.model_copy(update={"runner_seconds": runner})
    report = RunReport(
        spec_id=spec.spec_id,
        framework=spec.framework,
        status=status,  # type: ignore[arg-type]
        started_at=started,
        finished_at=_now(),
        metric=METRIC_FOR_TASK[spec.workload.task],  # type: ignore[arg-type]
        epochs=training.epochs,
        timing=training.timing,
        env=training.env,  # type: ignore[arg-type]
        fairness=training.fairness,  # type: ignore[arg-type]
        diverged_epoch=diverged_epoch,
        error=error,
        noise=training.noise,
        gpu_telemetry=training.gpu_telemetry,
        resources=resources.peak(),  # read last: the peak of the whole job, evaluation included
    )
    write_text_atomic(out, report.model_dump_json(indent=2))
    return report


def load_spec(path: Path) -> JobSpec:
    """Raises SystemExit(2) with one line naming the file and field on any problem. Pydantic's own
    JSON parser bounds the nesting (200 levels: a one-line "recursion limit exceeded")."""
    try:
        return JobSpec.model_validate_json(path.read_bytes())
    except OSError as exc:
        print(f"error: cannot read spec {path}: {exc.strerror or exc}", file=sys.stderr)
    except ValidationError as exc:
        print(f"error: invalid spec {describe(exc, str(path))}", file=sys.stderr)
    raise SystemExit(2)


def installed_version(framework: str) -> str | None:
    """The installed version of the framework's main package (schemas.job.MAIN_PACKAGE's first
    distribution found); None when none is installed or the framework has none (fake)."""
    for name in MAIN_PACKAGE.get(framework, ()):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def version_mismatch(spec: JobSpec) -> str | None:
    """Why this environment cannot run the spec's framework_version (a version matrix's job landed
    in another version's environment), or None. Asked before training: a mislabelled arm would
    compare a version with itself."""
    if spec.framework_version is None:
        return None
    installed = installed_version(spec.framework)
    if installed == spec.framework_version:
        return None
    package = "/".join(MAIN_PACKAGE.get(spec.framework, ("no package",)))
    return (
        f"the spec asks for {spec.framework} with {package} {spec.framework_version}, "
        f"but this environment has {installed or 'none installed'} ({sys.executable})"
    )


def _pin_to_given_cpus() -> None:
    """BENCH_CPUS (the job's CPUs, from its placement): pinned before the framework is imported, so
    every thread it starts inherits them. Done here rather than in the launcher's preexec_fn, which is
    unsafe when the orchestrator starts jobs from several threads (--gpu-mode throughput)."""
    text = os.environ.get("BENCH_CPUS", "")
    if not text or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, parse_cpulist(text))
    except (ValueError, OSError) as exc:  # a CPU gone offline: run unpinned, and say so in the log
        print(f"warning: cannot pin to CPUs {text!r}: {exc}; running unpinned", file=sys.stderr)


def _cannot_write(out: Path) -> str | None:
    """Why a report could not be written to `out`, asked before the job trains rather than after
    (the report is the job's only result). Probes with a real file: permissions, a read-only
    mount or a path under a regular file all show, whoever runs this (root ignores mode bits)."""
    if out.is_dir():
        return "it is a directory"
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent)
    except OSError as exc:
        return f"{out.parent}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(probe)
    return None


def exit_now(code: int) -> None:
    """End the runner process right after its report is written: flush our output, then skip the
    interpreter's finalization, where a framework tears down its modules and thread pools (0.5 s for
    `import torch` alone, 0.9 s after a PyTorch job on a 2-vCPU VM; TensorFlow alike). The report is
    already on disk (atomic write with fsync), so nothing of the job's result depends on that
    teardown, and the orchestrator's per-job overhead drops by that second."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(framework: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {module_for(framework)}", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--spec", type=Path, required=True, help="JobSpec JSON file")
    parser.add_argument("--out", type=Path, required=True, help="where to write the RunReport JSON")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=datasets.default_data_dir(),
        help="prepared datasets (.npz; default $BENCH_DATA_DIR or ~/.cache/bench/data); prepared here if missing",
    )
    args = parser.parse_args(argv)
    _pin_to_given_cpus()
    spec = load_spec(args.spec)
    if spec.framework != framework:
        print(
            f"error: {args.spec}: framework is {spec.framework!r}, this runner is {framework!r}",
            file=sys.stderr,
        )
        return 2
    why = version_mismatch(spec)
    if why is not None:
        print(f"error: {args.spec}: {why}", file=sys.stderr)
        return 2
    why = _cannot_write(args.out)
    if why is not None:
        print(f"error: cannot write report to {args.out}: {why}", file=sys.stderr)
        return 2
    report = run(spec, f"{module_for(framework)}.session", args.data_dir, args.out)
    if report.error:
        print(f"{report.status}: {report.error.type}: {report.error.message}", file=sys.stderr)
    return 0 if report.status == "ok" else 1
