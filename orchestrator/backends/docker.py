"""The docker backend: each job in a fresh, hardened container of its framework's image.

    create (not a blocking run) -> start -> stream logs to the job's log, epoch events to progress
    -> poll the state against our own deadline (docker-py's wait(timeout) raises a connection error,
    not a timeout) -> kill when it passes -> read ExitCode and OOMKilled -> move the report out of
    the job's output mount -> remove the container (never auto-remove: OOMKilled would be lost).

What a job container gets (container_config, a pure function the unit tests read):

    /job/spec.json  the spec, read-only      /data  the run's prepared datasets, read-only
    /out            its own output dir (rw)  /tmp   tmpfs scratch; the root filesystem is read-only
    no network (network_mode=none), a non-root uid, no capabilities, no-new-privileges, a pids limit,
    memory = memory+swap limit, cpuset_cpus = the job's slot's CPUs (else as many CPUs as the spec's
    intra-op threads), shm_size, labels bench.run / bench.spec_id (leftovers of dead runs:
    DockerBackend.sweep_leftovers), GPUs only as device requests with the job's explicit ids.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from orchestrator.backends.base import JobPaths, Outcome
from orchestrator.backends.docker_images import EngineUnavailable, ImageInfo, check_image, connect
from orchestrator.backends.venv import cpu_environment, kill_grace
from orchestrator.closing import Closeable
from orchestrator.gpu_slots import format_cpulist
from runners import module_for
from schemas.common import parse_event
from schemas.job import JobSpec, Threads
from schemas.report import Placement

ISOLATION = "docker: a hardened container per job"

MiB = 1024 * 1024
CONTAINER_UID = 10001  # the image's `bench` user
SPEC_IN_CONTAINER = "/job/spec.json"
DATA_IN_CONTAINER = "/data"
OUT_IN_CONTAINER = "/out"
REPORT_NAME = "report.json"
STOP_AFTER_KILL_SECONDS = 30.0


VERSIONS_ON_VENV = "version matrices run on the venv backend for now (--backend venv)"


class DockerBackendError(RuntimeError):
    """The docker backend cannot run this suite here (engine, image or GPU runtime); one line."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int  # also the memory+swap limit: no swap, so an over-limit job is OOM-killed
    shm_bytes: int = 256 * MiB
    tmpfs_bytes: int = 512 * MiB  # /tmp; counts against the memory limit
    pids: int = 1024  # threads count too: TensorFlow starts dozens


def parse_size(text: str) -> int:
    """'512m', '8g', '1.5G', '1048576' -> bytes (the units docker's --memory takes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512m or 8g)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmgt".index(unit or " "))


def default_limits(engine_memory_bytes: int) -> Limits:
    """Memory: $BENCH_DOCKER_MEMORY, else three quarters of what the engine has."""
    env = os.environ.get("BENCH_DOCKER_MEMORY")
    memory = parse_size(env) if env else int(engine_memory_bytes * 0.75) // MiB * MiB
    return Limits(memory_bytes=memory)


def cpuset_for(threads: Threads, cpu_count: int) -> str:
    """The first N CPUs, N = the spec's intra-op threads (capped by what the engine has): every
    framework of a run gets the same CPUs for the same thread setting."""
    n = max(1, min(threads.intra_op, cpu_count))
    return "0" if n == 1 else f"0-{n - 1}"


def pids_for(threads: Threads, floor: int) -> int:
    """Threads count toward a container's pids limit. A framework starts its intra-op pool, its
    inter-op pool and dozens of its own (TensorFlow: per device and per op queue), so a fixed 1024
    would kill a job with intra_op = 192 vCPUs on a large GPU VM at start-up."""
    return max(floor, 4 * (threads.intra_op + threads.inter_op) + 512)


def container_user(uid: int, gid: int) -> str:
    """The invoking user's ids, so the output files are theirs; root maps to the image's user."""
    return f"{CONTAINER_UID}:{CONTAINER_UID}" if uid == 0 else f"{uid}:{gid}"


def process_exit_code(raw: int) -> int:
    """A container's main process killed by signal N exits 128+N; Outcome wants -N (subprocess)."""
    return -(raw - 128) if 128 < raw <= 128 + 64 else raw


def container_config(
    spec: JobSpec,
    image: ImageInfo,
    *,
    spec_path: Path,
    data_dir: Path,
    out_dir: Path,
    limits: Limits,
    cpu_count: int,
    labels: dict[str, str],
    user: str,
    placement: Placement | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `client.containers.create`: everything that isolates and limits a job."""
    environment = {
        "BENCH_IMAGE_DIGEST": image.digest,
        # What resume compares (Backend.environment_id): the pins the image was built from.
        "BENCH_LOCK_HASH": image.labels.get("bench.requirements_sha256", ""),
        "PYTHONUNBUFFERED": "1",
        "HOME": "/tmp",
        "BENCH_ISOLATION": ISOLATION,
    }
    config: dict[str, Any] = {
        "image": image.id,  # the id, not the tag: a rebuild during the run cannot swap the code
        "entrypoint": ["python", "-m", module_for(spec.framework)],
        "command": [
            "--spec",
            SPEC_IN_CONTAINER,
            "--out",
            f"{OUT_IN_CONTAINER}/{REPORT_NAME}",
            "--data-dir",
            DATA_IN_CONTAINER,
        ],
        "name": f"bench-{spec.spec_id}-{uuid.uuid4().hex[:8]}",
        "labels": {**labels, "bench.spec_id": spec.spec_id, "bench.framework": spec.framework},
        "user": user,
        "working_dir": "/opt/bench",
        "environment": environment,
        "volumes": {
            str(spec_path.resolve()): {"bind": SPEC_IN_CONTAINER, "mode": "ro"},
            str(data_dir.resolve()): {"bind": DATA_IN_CONTAINER, "mode": "ro"},
            str(out_dir.resolve()): {"bind": OUT_IN_CONTAINER, "mode": "rw"},
        },
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_bytes // MiB}m,mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": pids_for(spec.threads, limits.pids),
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "shm_size": limits.shm_bytes,
        # A GPU slot's CPUs (the orchestrator's host is the engine's on a GPU VM); CPU jobs keep the
        # first N of the engine's own CPUs, which a remote or Desktop engine may have fewer of.
        "cpuset_cpus": format_cpulist(placement.cpus)
        if placement and placement.cpus and placement.slot is not None
        else cpuset_for(spec.threads, cpu_count),
        "stdin_open": False,
        "tty": False,
    }
    if spec.device.kind == "gpu":
        # The NVIDIA hook takes indices (nvidia-smi's PCI order) or UUIDs; the container sees only these.
        ids = list(placement.gpus) if placement and placement.gpus else [str(i) for i in spec.device.gpu_ids]
        config["device_requests"] = [{"driver": "nvidia", "device_ids": ids, "capabilities": [["gpu"]]}]
        environment["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        if placement and placement.slot is not None:
            environment.update(cpu_environment(placement))
    else:
        # A CUDA base image says NVIDIA_VISIBLE_DEVICES=all; on an engine whose default runtime is
        # nvidia that would hand a CPU job every GPU.
        environment["NVIDIA_VISIBLE_DEVICES"] = "void"
        environment["CUDA_VISIBLE_DEVICES"] = ""
    return config


def _let_others_read(path: Path) -> None:
    mode = path.stat().st_mode
    wanted = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
    if mode & wanted != wanted:
        path.chmod(mode | wanted)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_leftover(labels: dict[str, str], running: bool, host: str, own_run: str) -> bool:
    """A labelled container whose owner (the orchestrator or Ray task that made it, on this host) is
    gone. Judged by the owner's pid whether the container runs or not: a concurrent job's container
    that has just stopped is still being read (exit code, OOMKilled, logs) and must stay; several
    backends share one engine when Ray runs several jobs per node."""
    if labels.get("bench.run") == own_run:
        return False
    if labels.get("bench.host") != host:
        return False  # another machine's run on a shared engine: not ours to judge
    try:
        return not _pid_alive(int(labels.get("bench.pid", "")))
    except ValueError:
        return True


class DockerBackend(Closeable):
    """Holds the engine connections until close(); `sweep_leftovers()` is the caller's explicit step
    (a Ray task's backend must not sweep: its siblings share the engine)."""

    name = "docker"

    def __init__(
        self,
        variant: str = "cpu",
        log: Callable[[str], None] = print,
        limits: Limits | None = None,
        client: Any = None,
    ):
        self.variant = variant
        self.log = log
        self.client = client or connect(timeout=60)
        self._streams_client: Any = None
        info = self.client.info()
        self.engine = f"Docker {info.get('ServerVersion', '?')}"
        self.cpu_count = int(info.get("NCPU") or os.cpu_count() or 1)
        self.runtimes = tuple((info.get("Runtimes") or {}).keys())
        self.limits = limits or default_limits(int(info.get("MemTotal") or 8 * 1024 * MiB))
        self.host = platform.node() or "host"
        self.run_id = uuid.uuid4().hex[:12]
        self.labels = {"bench.run": self.run_id, "bench.host": self.host, "bench.pid": str(os.getpid())}
        self._images: dict[str, ImageInfo] = {}

    @property
    def _streams(self) -> Any:
        """A second connection without a read timeout, made on first launch: a job's log stream stays
        silent for as long as an epoch takes, which the API client's timeout would cut."""
        if self._streams_client is None:
            self._streams_client = connect(timeout=None)
        return self._streams_client

    def close(self) -> None:
        for client in (self._streams_client, self.client):
            if client is not None:
                client.close()
        self._streams_client = None

    # --- images ---

    def image_problems(self, frameworks: Sequence[str]) -> list[str]:
        problems = []
        for framework in frameworks:
            info, problem = check_image(self.client, framework, self.variant)
            if problem:
                problems.append(problem)
            elif info is not None:
                self._images[framework] = info
        return problems

    def image_for(self, framework: str) -> ImageInfo:
        if "@" in framework:  # a version's runner environment (JobSpec.runner_env): no image yet
            raise DockerBackendError(VERSIONS_ON_VENV)
        if framework not in self._images:
            problems = self.image_problems([framework])
            if problems:
                raise DockerBackendError(f"{problems[0]}: run `bench images build --framework {framework}`")
        return self._images[framework]

    def environment_id(self, framework: str) -> str | None:
        return self.image_for(framework).labels.get("bench.requirements_sha256") or None

    def describe(self, framework: str) -> dict[str, str]:
        image = self.image_for(framework)
        return {
            "backend": "docker",
            "engine": self.engine,
            "image": image.tag,
            "image_digest": image.digest,
            "variant": self.variant,
            "requirements_sha256": image.labels.get("bench.requirements_sha256", ""),
            "memory_limit": f"{self.limits.memory_bytes // MiB}m",
        }

    # --- containers ---

    def cuda_majors(self, frameworks: Sequence[str]) -> dict[str, int | None]:
        from orchestrator import envs

        return envs.cuda_majors([fw for fw in frameworks if fw != "fake"], self.variant)

    def cancel(self) -> None:
        """Kill this run's job containers that still run; each job's own wait then sees it exit."""
        filters = {"label": f"bench.run={self.run_id}", "status": "running"}
        try:
            running = self.client.api.containers(filters=filters)
        except Exception as exc:  # the engine went away: each job's own wait reports it
            self.log(f"docker: could not list this run's containers to stop them: {exc}")
            return
        for c in running:
            try:
                self.client.api.kill(c["Id"])
            except Exception:  # already gone: nothing to kill
                pass

    def sweep_leftovers(self) -> int:
        removed = 0
        for c in self.client.api.containers(all=True, filters={"label": "bench.run"}):
            if is_leftover(c.get("Labels") or {}, c.get("State") == "running", self.host, self.run_id):
                self._remove(c["Id"])
                removed += 1
        if removed:
            self.log(f"docker: removed {removed} leftover job container(s) of earlier runs")
        return removed

    def _remove(self, container_id: str) -> None:
        from docker.errors import NotFound

        try:
            self.client.api.remove_container(container_id, force=True)
        except NotFound:
            pass

    def _output_dir(self, paths: JobPaths, spec: JobSpec) -> tuple[Path, str]:
        """The job's own writable dir (hidden beside its report, removed after the job), and the
        uid:gid the container runs as. Root's jobs run as the image's user: root hands that user
        the output dir and lets it read the inputs (a 0700 run or data dir would lock it out)."""
        out = Path(tempfile.mkdtemp(prefix=f".{spec.spec_id}.", dir=paths.report.parent))
        user = container_user(os.getuid(), os.getgid())
        if os.getuid() == 0:
            os.chown(out, CONTAINER_UID, CONTAINER_UID)
            _let_others_read(paths.spec)
            _let_others_read(paths.data_dir)
            for item in paths.data_dir.iterdir():
                _let_others_read(item)
        return out, user

    def launch(
        self,
        spec: JobSpec,
        paths: JobPaths,
        on_event: Callable[[dict], None],
        placement: Placement,
    ) -> Outcome:
        image = self.image_for(spec.framework)
        out_dir, user = self._output_dir(paths, spec)
        config = container_config(
            spec,
            image,
            spec_path=paths.spec,
            data_dir=paths.data_dir,
            out_dir=out_dir,
            limits=self.limits,
            cpu_count=self.cpu_count,
            labels=self.labels,
            user=user,
            placement=placement,
        )
        deadline = spec.timeouts.job_seconds + kill_grace(spec.timeouts.job_seconds)
        with open(paths.log, "a") as log:
            log.write(
                f"$ docker: {image.tag} ({image.digest}) {' '.join(config['entrypoint'] + config['command'])}"
                f"  [user {user}, cpuset {config['cpuset_cpus']}, memory {self.limits.memory_bytes // MiB}m,"
                f" network none]\n"
            )
            log.flush()
            report = out_dir / REPORT_NAME
            try:
                return self.run_container(config, deadline, log, on_event)
            finally:  # also on Ctrl-C: no output dir left behind
                if report.exists():
                    os.replace(report, paths.report)
                shutil.rmtree(out_dir, ignore_errors=True)

    def run_container(
        self, config: dict[str, Any], deadline: float, log: IO[str], on_event: Callable[[dict], None]
    ) -> Outcome:
        """Create, start, stream, wait with our own deadline, read the verdict, remove: the
        container is gone when this returns or raises (Ctrl-C included)."""
        from docker.errors import DockerException

        start = time.monotonic()  # the wall includes create and start: the "process" part of a job
        container_id = None
        try:
            try:
                container_id = self.client.containers.create(**config).id
                self.client.api.start(container_id)
            except DockerException as exc:
                log.write(f"# docker could not start the job: {' '.join(str(exc).split())}\n")
                return Outcome(exit_code=None, wall_seconds=time.monotonic() - start, timed_out=False)
            pump = threading.Thread(
                target=_pump, args=(self._streams, container_id, log, on_event), daemon=True
            )
            pump.start()
            timed_out, state = self._wait(container_id, time.monotonic(), deadline)
            pump.join(timeout=10)
            wall = time.monotonic() - start
            code = process_exit_code(int(state.get("ExitCode", -1)))
            oom = bool(state.get("OOMKilled"))  # read before the container is removed
            notes = " (killed: hard timeout)" if timed_out else " (killed: out of memory)" if oom else ""
            log.write(f"# exit code {code}{notes}, {wall:.1f}s\n")
            return Outcome(exit_code=code, wall_seconds=wall, timed_out=timed_out, oom_killed=oom)
        finally:
            if container_id is not None:
                self._remove(container_id)

    def _wait(self, container_id: str, start: float, deadline: float) -> tuple[bool, dict[str, Any]]:
        """Until the container stops, killing it past the deadline. The engine's blocking wait, in a
        thread, says the moment it stops (a poll alone would leave up to a poll interval between
        every two jobs); the poll stays for the deadline, and as the fallback if that call fails."""
        stopped = threading.Event()
        waiter = threading.Thread(
            target=_block_until_stopped, args=(self._streams, container_id, stopped), daemon=True
        )
        waiter.start()
        timed_out, killed_at = False, 0.0
        while True:
            state: dict[str, Any] = self.client.api.inspect_container(container_id)["State"]
            if state.get("Status") in ("exited", "dead"):
                return timed_out, state
            now = time.monotonic()
            if not timed_out and now - start > deadline:
                timed_out, killed_at = True, now
                self._kill(container_id)
            elif timed_out and now - killed_at > STOP_AFTER_KILL_SECONDS:
                raise DockerBackendError(f"container {container_id[:12]} still runs 30s after SIGKILL")
            if stopped.wait(timeout=0.1 if now - start < 5 else 0.25):
                stopped.clear()  # woken once; should the engine's state lag its wait, poll, never spin

    def _kill(self, container_id: str) -> None:
        from docker.errors import APIError

        try:
            self.client.api.kill(container_id)
        except APIError:  # it stopped between the poll and the kill
            pass


def _block_until_stopped(client: Any, container_id: str, stopped: threading.Event) -> None:
    try:
        client.api.wait(container_id)  # a client without a read timeout: returns when the container stops
    except Exception:  # the engine hiccuped or the client was closed: _wait's poll still finds the exit
        return
    stopped.set()


def _pump(client: Any, container_id: str, log: IO[str], on_event: Callable[[dict], None]) -> None:
    buffer = b""
    try:
        for chunk in client.api.logs(container_id, stream=True, follow=True, stdout=True, stderr=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                _emit(raw.decode("utf-8", "replace") + "\n", log, on_event)
    except Exception as exc:  # the stream ends when the container is removed under it (Ctrl-C)
        log.write(f"# log stream ended: {' '.join(str(exc).split())[:200]}\n")
    if buffer:
        _emit(buffer.decode("utf-8", "replace") + "\n", log, on_event)
    log.flush()


def _emit(line: str, log: IO[str], on_event: Callable[[dict], None]) -> None:
    log.write(line)
    log.flush()
    event = parse_event(line)
    if event is not None:
        on_event(event)


__all__ = ["DockerBackend", "DockerBackendError", "EngineUnavailable", "Limits", "container_config"]
