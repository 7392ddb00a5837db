"""The fastest training loops one would hand-write in each framework: the yardsticks for the runners.

If a runner's steady-state epoch is much slower than its framework's loop here, the runner measures
its own harness, not the framework. Run inside the framework's venv from the repo root
(`benchmarks/perf.py` runs them all, interleaved with the runners):

    .venvs/pytorch/bin/python benchmarks/minimal_loop.py pytorch --mode eager --data DIR/fashion-mnist.npz
    .venvs/keras-jax/bin/python benchmarks/minimal_loop.py keras-jax --mode compiled --data ...
    .venvs/pytorch/bin/python benchmarks/minimal_loop.py pytorch --mode gemm-floor --batch-size 128

The loops themselves are benchmarks/loops/<framework>.py, one module per framework. Modes:
    eager       each framework's standard hand-written loop, one step per batch. PyTorch: the plain
                eager loop. TensorFlow: one `tf.function` step with GradientTape and `apply_gradients`
                (TensorFlow's standard custom loop). JAX (Flax + Optax): one `jax.jit` step. Keras on
                JAX / on PyTorch: the loops of Keras's guides "Writing a training loop from scratch in
                JAX" (jitted stateless step) and "... in PyTorch" (`loss.backward()`, then Keras's
                `optimizer.apply`).
    compiled    each framework's documented best practice for speed within the same maths (what the
                runners' "jit" mode and "tuned" tier are held against): PyTorch `torch.compile` of the
                whole step; TensorFlow Keras `fit` with XLA and `steps_per_execution`; JAX `lax.scan`
                over chunks of STEPS_PER_EXECUTION batches in one jit, buffers donated; Keras on JAX
                the guide's stateless step in the same scan (faster than its `fit`); Keras on PyTorch
                `fit` with `jit_compile=True` (torch.compile; steps_per_execution must be 1 there).
    gemm-floor  no training: the step's GEMMs alone at its shapes (forward, input and weight
                gradients of every dense layer), timed with torch.mm on preallocated tensors, times
                the steps of an epoch: the shape-level lower bound of a steady-state epoch.

Every loop: the same network, Adam with Keras's epsilon placement (PyTorch's and Optax's eps fed per
step, as the runners do; the compiled PyTorch step keeps PyTorch's placement, see loops/pytorch.py),
batch size and threads as the runner's job; the epoch's order and its split into batches made before
the clock; one wait for the device per epoch; nothing else (no evaluation per epoch, no loss
bookkeeping). STEPS_PER_EXECUTION is schemas/tiers.py's, the tuned tier's.

Models (--model): `mlp`, the paper's classification network (784-128-128-10); `cnn`, the LeNet-5-like
network of suites/cnn.toml (conv 6@5x5 same -> pool 2 -> conv 16@5x5 valid -> pool 2 -> 120 -> 84 ->
10) on 28x28x1 images (channels-first for PyTorch, channels-last for the others: each framework's
native layout, as its runner uses). --max-train-samples: the first N training rows only (the runners'
`max_train_samples`).

Prints one JSON line: {"framework", "mode", "model", "batch_size", "epoch_seconds": [...],
"steady_epoch_seconds", "val_accuracy"}.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the loops package

from loops import LOOPS  # noqa: E402
from loops.common import LAYERS, N_FEATURES  # noqa: E402


def gemm_shapes(bs: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every GEMM in one training step of the dense stack at batch `bs`: forward
    X(bs, in) @ W(in, out); weight gradient X^T(in, bs) @ dY(bs, out); input gradient
    dY(bs, out) @ W^T(out, in) for every layer but the first (its input needs no gradient)."""
    shapes, fan_in = [], N_FEATURES
    for i, (units, _) in enumerate(LAYERS):
        shapes += [(bs, fan_in, units), (fan_in, bs, units)]
        if i > 0:
            shapes.append((bs, units, fan_in))
        fan_in = units
    return shapes


def gemm_floor(n_train: int, bs: int, threads: int, repeats: int = 7) -> tuple[list[float], float]:
    """Seconds per epoch of the step's GEMMs alone (best of `repeats` timings of 200 steps' worth)."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    full, last = divmod(n_train, bs)
    rng = np.random.default_rng(0)
    operands = {
        b: [
            (
                torch.from_numpy(rng.standard_normal((m, k), dtype=np.float32)),
                torch.from_numpy(rng.standard_normal((k, n), dtype=np.float32)),
                torch.empty(m, n),
            )
            for m, k, n in gemm_shapes(b)
        ]
        for b in {bs, last} - {0}
    }

    def step_seconds(b: int, steps: int = 200) -> float:
        ops = operands[b]
        for a, w, out in ops:  # warm-up: thread pool, kernel choice
            torch.mm(a, w, out=out)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                for a, w, out in ops:
                    torch.mm(a, w, out=out)
            best = min(best, (time.perf_counter() - start) / steps)
        return best

    epoch = full * step_seconds(bs) + (step_seconds(last) if last else 0.0)
    return [epoch], float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("framework", choices=sorted(LOOPS))
    parser.add_argument("--mode", choices=["eager", "compiled", "gemm-floor"], default="eager")
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--data", help="a prepared classification .npz (784 features)")
    parser.add_argument("--train-samples", type=int, default=60000, help="gemm-floor: rows per epoch")
    parser.add_argument("--max-train-samples", type=int, default=None, help="train on the first N rows only")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "gemm-floor":
        if args.framework != "pytorch" or args.model != "mlp":
            parser.error("gemm-floor is measured with PyTorch's torch.mm, for the mlp")
        times, acc = gemm_floor(args.train_samples, args.batch_size, args.threads)
    else:
        if not args.data:
            parser.error("--data is required for a training loop")
        with np.load(args.data, allow_pickle=False) as npz:
            data = {k: npz[k] for k in ("x_train", "y_train", "x_val", "y_val")}
        if args.max_train_samples is not None:
            data["x_train"], data["y_train"] = (
                data[k][: args.max_train_samples] for k in ("x_train", "y_train")
            )
        loop = importlib.import_module(f"loops.{LOOPS[args.framework]}").loop
        times, acc = loop(
            data, args.epochs, args.batch_size, args.threads, args.mode == "compiled", args.model
        )
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(json.dumps({"framework": args.framework, "mode": args.mode, "model": args.model, "batch_size": args.batch_size,
                      "epoch_seconds": times, "steady_epoch_seconds": steady,
                      "val_accuracy": None if acc != acc else acc}))  # fmt: skip


if __name__ == "__main__":
    main()
