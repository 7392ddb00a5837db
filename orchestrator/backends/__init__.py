"""Isolation backends: venv (a virtualenv per framework), docker (a hardened container per job) and
current (no isolation: the frameworks installed where the orchestrator runs). One protocol
(backends/base.py), one module per backend.

`select_backend` turns the --backend choice into a backend and says which and why; the docker
backend and the Docker SDK are imported only when docker is asked for or possible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestrator.backends.base import Backend
from orchestrator.backends.venv import VenvBackend


def select_backend(
    choice: str,
    frameworks: Sequence[str],
    log: Callable[[str], None],
    variant: str = "cpu",
    gpu: bool = False,
    versions: bool = False,
) -> Backend:
    """venv | current | docker | auto (docker when an engine answers, every framework's image is built and
    current and, for GPU jobs, the engine has NVIDIA's runtime; else venv). An explicit docker
    that cannot run raises DockerBackendError (one line). `versions`: the suite has a version matrix,
    which only the venv backend builds environments for (auto picks venv; docker refuses)."""
    if choice == "venv":
        log("backend: venv (as asked)")
        return VenvBackend(log=log, variant=variant)
    if choice == "current":
        from orchestrator.backends.current import CurrentBackend

        log("backend: current (as asked): the frameworks installed here, no isolation between them")
        return CurrentBackend(log=log, variant=variant)

    from orchestrator.backends.docker import DockerBackend, DockerBackendError
    from orchestrator.backends.docker_images import (
        EngineUnavailable,
        check_image,
        connect,
        frameworks_with_images,
        gpu_runtime,
    )

    def fallback(reason: str) -> Backend:
        if choice == "docker":
            raise DockerBackendError(f"--backend docker: {reason}")
        log(f"backend: venv (auto: {reason})")
        return VenvBackend(log=log, variant=variant)

    if versions:
        from orchestrator.backends.docker import VERSIONS_ON_VENV

        return fallback(VERSIONS_ON_VENV)
    no_image = [fw for fw in frameworks if fw not in frameworks_with_images()]
    if no_image:
        return fallback(f"no docker image exists for the {', '.join(no_image)} runner")
    try:
        client = connect()
    except EngineUnavailable as exc:
        return fallback(str(exc))
    if gpu and not gpu_runtime(client):
        client.close()
        return fallback(
            "the Docker engine has no NVIDIA container runtime for GPU jobs (install "
            "nvidia-container-toolkit and restart dockerd, or use --gpus none)"
        )
    problems = [p for fw in frameworks if (p := check_image(client, fw, variant)[1])]
    if problems:
        client.close()
        flags = " --variant cuda" if variant == "cuda" else ""
        return fallback("; ".join(problems) + f" (`bench images build{flags}` makes them)")
    backend = DockerBackend(variant=variant, log=log, client=client)
    images = ", ".join(
        f"{backend.image_for(fw).tag} {backend.image_for(fw).digest[:19]}" for fw in frameworks
    )
    log(f"backend: docker ({'as asked' if choice == 'docker' else 'auto'}: {backend.engine}; {images})")
    return backend


__all__ = ["select_backend"]
