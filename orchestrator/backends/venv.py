"""The venv backend: each runner is a subprocess of its framework's own virtualenv.

The embedded default when no Docker engine is reachable. Arguments are passed as a list (no shell
ever sees a spec value); the child gets its own process group so a timeout or Ctrl-C kills the whole
tree; stdout+stderr stream line by line into the job's log file while epoch events feed progress.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator import envs
from orchestrator.backends.base import JobPaths, Outcome
from orchestrator.closing import Closeable
from runners import module_for
from schemas.common import ROOT, format_cpulist, parse_event
from schemas.job import JobSpec
from schemas.report import Placement


def kill_grace(job_seconds: float) -> float:
    """How long past the spec's deadline (which the runner checks between epochs) the hard kill
    waits, so a runner that notices its deadline can still write its own report."""
    return min(30.0, max(2.0, 0.1 * job_seconds))


class VenvBackend(Closeable):
    name = "venv"
    isolation = "venv: a virtualenv per framework, a process per job"

    def __init__(self, log: Callable[[str], None] = print, variant: str = "cpu"):
        self.log = log
        self.variant = variant
        self._running: set[subprocess.Popen] = set()  # type: ignore[type-arg]
        self._lock = threading.Lock()
        self._cancelled = False

    def pythonpath(self) -> str:
        """The project only: the orchestrator's own PYTHONPATH must not leak packages into a
        framework's virtualenv."""
        return str(ROOT)

    def cancel(self) -> None:
        """Kill every runner this backend started that still runs (Ctrl-C while jobs run side by side
        in other threads, which no KeyboardInterrupt reaches)."""
        with self._lock:
            self._cancelled = True  # a job launched from now on is killed as soon as it registers
            running = list(self._running)
        for proc in running:
            _kill_group(proc)

    def sweep_leftovers(self) -> int:
        return 0  # runners die with their orchestrator (PR_SET_PDEATHSIG): nothing outlives a run

    def python_for(self, framework: str) -> Path:
        """`framework`: a runner environment's name, 'keras-jax' or a version's 'keras-jax@3.14.0'."""
        if framework == "fake":  # numpy-only test runner: the orchestrator's own interpreter will do
            return Path(sys.executable)
        return envs.ensure(framework, log=self.log, variant=self.variant)

    def cuda_majors(self, frameworks: Sequence[str]) -> dict[str, int | None]:
        """Each framework's CUDA major as its pins declare it (None: a CPU build)."""
        return envs.cuda_majors(frameworks, self.variant)

    def environment_id(self, framework: str) -> str | None:
        return None if framework == "fake" else envs.lock_hash(framework, self.variant)

    def describe(self, framework: str) -> dict[str, str]:
        if framework == "fake":
            return {"backend": "venv", "python": sys.executable}
        return {
            "backend": "venv",
            "python": str(self.python_for(framework)),
            "lock_hash": envs.lock_hash(framework, self.variant),
        }

    def launch(
        self,
        spec: JobSpec,
        paths: JobPaths,
        on_event: Callable[[dict], None],
        placement: Placement,
    ) -> Outcome:
        cmd = [
            str(self.python_for(spec.runner_env)),
            "-m",
            module_for(spec.framework),
            "--spec",
            str(paths.spec),
            "--out",
            str(paths.report),
            "--data-dir",
            str(paths.data_dir),
        ]
        env = {**os.environ, "PYTHONPATH": self.pythonpath(), "PYTHONUNBUFFERED": "1"}
        lock = self.environment_id(spec.runner_env)
        if lock:  # the runner records it, so a resumed run can tell which stack made a report
            env["BENCH_LOCK_HASH"] = lock
        env["BENCH_ISOLATION"] = self.isolation
        env.update(gpu_environment(spec, placement))
        env.update(cpu_environment(placement))
        deadline = spec.timeouts.job_seconds + kill_grace(spec.timeouts.job_seconds)
        start = time.monotonic()
        with open(paths.log, "a") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            with self._lock:
                self._running.add(proc)
                cancelled = self._cancelled
            if cancelled:
                _kill_group(proc)
            reader = threading.Thread(target=_pump, args=(proc, log, on_event), daemon=True)
            reader.start()
            timed_out = False
            try:
                proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            except BaseException:  # Ctrl-C: never leave a runner behind
                _kill_group(proc)
                raise
            finally:
                with self._lock:
                    self._running.discard(proc)
            reader.join(timeout=5)
            wall = time.monotonic() - start
            log.write(
                f"# exit code {proc.returncode}{' (killed: hard timeout)' if timed_out else ''}, {wall:.1f}s\n"
            )
        return Outcome(exit_code=proc.returncode, wall_seconds=wall, timed_out=timed_out)


def _pump(proc: subprocess.Popen, log, on_event: Callable[[dict], None]) -> None:  # type: ignore[type-arg, no-untyped-def]
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        event = parse_event(line)
        if event is not None:
            on_event(event)


def cpu_environment(placement: Placement) -> dict[str, str]:
    """The job's CPUs for the runner to pin itself to (runners/harness.py), and, when jobs run side
    by side, the CPUs whose load is its noise (its neighbours' load sits on their own CPUs)."""
    if not placement.cpus:
        return {}
    cpus = format_cpulist(placement.cpus)
    return {"BENCH_CPUS": cpus, **({"BENCH_NOISE_CPUS": cpus} if placement.mode == "throughput" else {})}


def gpu_environment(spec: JobSpec, placement: Placement) -> dict[str, str]:
    """The job's GPUs, as CUDA names them. CUDA numbers devices fastest first unless told PCI order,
    while nvidia-smi, NVML and docker number them in PCI order: without CUDA_DEVICE_ORDER an index
    could name another card than the one the slot was given. UUIDs (GPU-..., MIG-...) are exact."""
    if spec.device.kind != "gpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": ",".join(placement.gpus)}


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()  # loaded once here: a dlopen in the forked child is unsafe while other threads run


def _die_with_parent() -> None:
    """Linux: the runner gets SIGKILL if the orchestrator dies without cleaning up (SIGKILL, OOM),
    so no orphaned job keeps a core busy under the next benchmark."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill_group(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
