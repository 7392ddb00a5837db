"""fp32 matrix-multiply rate of one framework, measured inside its own runner environment.

    python -m runners.gemm --framework pytorch --size 1024 --threads 2

prints one JSON line: {"framework", "version", "size", "threads", "gflops", "seconds", "calls", ...}.
`bench calibrate` runs it in every runner's virtualenv (and numpy in the orchestrator's) so a job's
achieved GFLOP/s can be read against what that stack reaches on this machine: an MLP step is mostly
GEMMs, so the ratio says whether a framework is slow at the maths or around it.

Method: square float32 matrices from a seeded numpy generator, converted once; the framework's
threads set as the runners set them (intra-op = `--threads`, inter-op 1); a few warm-up calls
(thread pools, first-call kernel choice); then each repeat times enough back-to-back calls to last
`--min-seconds`, and the best repeat counts (interference only ever slows a run down). CPU only:
GPUs are hidden, as a CPU job's runner hides them. Frameworks are imported inside the functions
that need them, so `--framework numpy` works where neither is installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

FRAMEWORKS = ("numpy", "pytorch", "tensorflow", "jax", "keras-jax", "keras-torch")


def _numpy(size: int, threads: int) -> tuple[str, Callable[[], Any], Callable[[Any], None]]:
    # BLAS reads its thread count once, when numpy is first imported.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import numpy as np

    a, b = _inputs(size)
    return np.__version__, lambda: a @ b, lambda _: None


def _pytorch(size: int, threads: int) -> tuple[str, Callable[[], Any], Callable[[Any], None]]:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    a, b = (torch.from_numpy(m) for m in _inputs(size))
    return torch.__version__, lambda: torch.mm(a, b), lambda _: None  # CPU ops return when done


def _tensorflow(size: int, threads: int) -> tuple[str, Callable[[], Any], Callable[[Any], None]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # Before the first op, or TensorFlow silently keeps its defaults (as in runners/tensorflow).
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    a, b = (tf.constant(m) for m in _inputs(size))
    # Eager CPU ops are synchronous; reading one element is a cheap guarantee that the work is done.
    return tf.__version__, lambda: tf.linalg.matmul(a, b), lambda c: float(c[0, 0])


def _jax(size: int, threads: int) -> tuple[str, Callable[[], Any], Callable[[Any], None]]:
    # Before JAX creates its backend, as in runners/jax: XLA's intra-op pool has NPROC threads.
    os.environ["NPROC"] = str(threads)
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_default_matmul_precision", "highest")
    a, b = (jax.device_put(m) for m in _inputs(size))
    matmul = jax.jit(lambda x, y: x @ y)
    # Dispatch is asynchronous: waiting for the last result waits for every call before it.
    return jax.__version__, lambda: matmul(a, b), lambda c: c.block_until_ready()


def _inputs(size: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((size, size), dtype=np.float32), rng.standard_normal(
        (size, size), dtype=np.float32
    )


def measure(framework: str, size: int, threads: int, repeats: int, warmup: int, min_seconds: float) -> dict:
    # Keras 3's GEMMs are its backend's: keras-jax multiplies with XLA, keras-torch with torch.mm.
    setup = {"numpy": _numpy, "pytorch": _pytorch, "tensorflow": _tensorflow, "jax": _jax,
             "keras-jax": _jax, "keras-torch": _pytorch}[framework]  # fmt: skip
    version, call, sync = setup(size, threads)
    for _ in range(warmup):
        sync(call())
    start = time.perf_counter()
    sync(call())
    calls = max(1, math.ceil(min_seconds / max(time.perf_counter() - start, 1e-9)))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = call()
        sync(out)
        best = min(best, (time.perf_counter() - start) / calls)
    return {
        "framework": framework,
        "version": version,
        "size": size,
        "threads": threads,
        "gflops": 2 * size**3 / best / 1e9,
        "seconds": best,
        "calls": calls,
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.gemm", description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--size", type=int, default=1024, help="matrix side, 16 to 8192")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the best counts")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--min-seconds", type=float, default=0.1, help="each repeat lasts at least this")
    args = parser.parse_args(argv)
    if not 16 <= args.size <= 8192 or not 1 <= args.threads <= 1024 or not 1 <= args.repeats <= 100:
        parser.error("--size must be 16..8192, --threads 1..1024, --repeats 1..100")
    if not 0 <= args.warmup <= 100 or not 0 < args.min_seconds <= 60:
        parser.error("--warmup must be 0..100 and --min-seconds in (0, 60]")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU measurement, whatever the host has
    try:
        result = measure(args.framework, args.size, args.threads, args.repeats, args.warmup, args.min_seconds)
    except ImportError as exc:
        print(json.dumps({"framework": args.framework, "error": f"unavailable: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
