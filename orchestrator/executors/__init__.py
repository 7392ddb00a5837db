"""Executors: where jobs run. `local` runs them one after another on this machine (orchestrator.jobs);
`ray` makes each job a Ray task placed by a Ray cluster (orchestrator.executors.ray_cluster).

The executor is independent of the isolation backend: every combination (local+venv, ray+docker, ...)
runs the same attempt -> finalize -> retry path. Ray is an optional extra, imported only here when
asked for.
"""

from __future__ import annotations

from types import ModuleType

EXECUTORS = ("local", "ray")
INSTALL_HINT = "--executor ray needs Ray: pip install 'bench[ray]' (or pip install ray==2.60.0)"


class ExecutorError(RuntimeError):
    """The chosen executor cannot run here (Ray missing, cluster unreachable): one line, exit 2."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ExecutorError(INSTALL_HINT) from None
    return ray
