"""Where a JAX job runs: threads, precision and device set before JAX starts its backend, and what
the runner reads back of them. JAX is imported inside the functions (runners/jax/session.py has it)."""

from __future__ import annotations

import os
from typing import Any

from schemas.job import JobSpec


def configure(spec: JobSpec) -> tuple[Any, list[str]]:
    """Threads and precision, before JAX creates its backend (what it reads then), and the device.

    XLA:CPU executes a compiled computation (its kernels, parallel loops and independent operations)
    on one intra-op Eigen thread pool ("tf_XLAEigen") of XLA's DefaultThreadPoolSize(): the NPROC
    environment variable when set, else the CPUs this process may run on. NPROC = intra_op bounds it
    (read back as the pool's threads); intra_op 1 also gets --xla_cpu_multi_thread_eigen=false
    (single-threaded Eigen dot and convolution kernels). Measured on a 1-thread job: the steps' work
    runs on the one pool thread while the Python thread dispatches (as in TensorFlow's runtime).
    XLA_FLAGS' `intra_op_parallelism_threads=N`, often quoted, is no flag: XLA ignores it unread."""
    import jax

    applied = []
    os.environ["NPROC"] = str(spec.threads.intra_op)
    applied.append(f"NPROC={spec.threads.intra_op}")
    if spec.threads.intra_op == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (
            f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false".strip()
        )
        applied.append("XLA_FLAGS=--xla_cpu_multi_thread_eigen=false")
    if spec.device.kind == "gpu":
        # Grow GPU memory on demand as the Keras runner does (memory growth): no 75% preallocation.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        applied.append(f"XLA_PYTHON_CLIENT_PREALLOCATE={os.environ['XLA_PYTHON_CLIENT_PREALLOCATE']}")
    else:
        jax.config.update("jax_platforms", "cpu")  # a CUDA build on a GPU host must not touch the GPU
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if spec.tf32 else "highest")
    if spec.device.kind == "cpu":
        return jax.devices("cpu")[0], applied
    try:
        gpus = jax.devices("gpu")  # the backend narrows CUDA_VISIBLE_DEVICES to the job's GPUs
    except RuntimeError as exc:
        raise RuntimeError(f"spec asks for a GPU but JAX sees none ({str(exc)[:200]})") from None
    return gpus[0], applied


def pool_threads() -> int:
    """Threads of XLA's intra-op Eigen pool in this process, as the kernel names them."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                count += f.read().strip() == "tf_XLAEigen"
        except OSError:
            pass
    return count


def gpu_fields(device: Any, uuid: str | None) -> dict[str, Any]:
    from runners.environment import nvidia_driver
    from runners.gpu import cublas_version

    versions: dict[str, Any] = {}
    try:  # private, and only in CUDA builds: the CUDA runtime and cuDNN the plugin loaded
        from jax._src.lib import cuda_versions

        if cuda_versions is not None:
            versions = {"cuda": str(cuda_versions.cuda_runtime_get_version()),
                        "cudnn": str(cuda_versions.cudnn_get_version())}  # fmt: skip
    except Exception:  # noqa: BLE001 -- a missing version is None, never a failed job
        pass
    capability = getattr(device, "compute_capability", None)
    return {
        "name": device.device_kind,
        "driver": nvidia_driver(),
        "cuda": versions.get("cuda"),
        "gpu_uuid": uuid,
        "compute_capability": str(capability) if capability else None,
        "memory_total_bytes": (device.memory_stats() or {}).get("bytes_limit"),
        "cudnn": versions.get("cudnn"),
        "cublas": cublas_version(),
    }
