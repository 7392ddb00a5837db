"""Executors: where jobs run. One protocol (executors/base.py), one module per executor:

    local        local.py        one job after another on this machine (the default)
    ray          ray_cluster.py  each job a Ray task placed by a Ray cluster (docs/ray.md)

The executor is independent of the isolation backend: every combination (local+venv, ray+docker, ...)
runs the same attempt -> finalize -> retry path. `select_executor` is the one place that maps a name
to an executor; Ray is an optional extra, imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from orchestrator.executors.base import Executor, LoopResult

INSTALL_HINT = "--executor ray needs Ray: pip install 'bench[ray]' (or pip install ray==2.60.0)"


class ExecutorError(RuntimeError):
    """The chosen executor cannot run here (Ray missing, cluster unreachable): one line, exit 2."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ExecutorError(INSTALL_HINT) from None
    return ray


def select_executor(
    name: str, log: Callable[[str], None], ray_address: str | None = None, gpu_mode: str = "exclusive"
) -> Executor:
    """`local` (GPU jobs on slots, `gpu_mode` exclusive | throughput) or `ray` (connecting to
    RAY_ADDRESS / `ray_address`, or a new Ray on this machine; Ray places GPU jobs itself)."""
    if name == "local":
        from orchestrator.executors.local import LocalExecutor
        from orchestrator.gpu_slots import GPU_MODES

        if gpu_mode not in GPU_MODES:
            raise ExecutorError(f"--gpu-mode must be one of {', '.join(GPU_MODES)}, got {gpu_mode!r}")
        return LocalExecutor(gpu_mode)  # type: ignore[arg-type]
    if name == "ray":
        from orchestrator.executors.ray_cluster import RayExecutor

        return RayExecutor(ray_address, log)
    raise ExecutorError(f"unknown executor {name!r}; choose local or ray")


__all__ = ["Executor", "ExecutorError", "LoopResult", "import_ray", "select_executor"]
