"""The fastest training loops one would hand-write in each framework: the yardsticks for the runners.

If a runner's steady-state epoch is much slower than its framework's loop here, the runner measures
its own harness, not the framework. Run inside the framework's venv from the repo root
(`benchmarks/perf.py` runs them all, interleaved with the runners):

    .venvs/pytorch/bin/python benchmarks/minimal_loop.py pytorch --mode eager --data DIR/fashion-mnist.npz
    .venvs/tensorflow/bin/python benchmarks/minimal_loop.py tensorflow --mode compiled --data ...
    .venvs/pytorch/bin/python benchmarks/minimal_loop.py pytorch --mode gemm-floor --batch-size 128

Modes:
    eager       PyTorch: the plain eager loop. TensorFlow: one `tf.function` step with GradientTape
                and `apply_gradients` per batch (TensorFlow's standard custom loop). Both step over
                batches split before the clock.
    compiled    each framework's documented best practice for speed within the same maths (the
                "tuned" tier): PyTorch `torch.compile` of the whole step (forward, loss, backward,
                optimizer update); Keras `fit` with XLA (`jit_compile=True`) and
                `steps_per_execution` = STEPS_PER_EXECUTION.
    gemm-floor  no training: the step's GEMMs alone at its shapes (forward, input and weight
                gradients of every dense layer), timed with torch.mm on preallocated tensors, times
                the steps of an epoch: the shape-level lower bound of a steady-state epoch.

Models (--model): `mlp`, the paper's classification network (784-128-128-10); `cnn`, the LeNet-5-like
network of suites/cnn.toml (conv 6@5x5 same -> pool 2 -> conv 16@5x5 valid -> pool 2 -> 120 -> 84 ->
10) on 28x28x1 images (channels-first for PyTorch, channels-last for Keras: each framework's native
layout, as its runner uses).

Prints one JSON line: {"framework", "mode", "model", "batch_size", "epoch_seconds": [...],
"steady_epoch_seconds", "val_accuracy"}. Same network, optimizer settings, batch size and threads
as the runner's job; nothing else (no evaluation per epoch, no loss bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

LAYERS = [(128, "relu"), (128, "relu"), (10, None)]
N_FEATURES = 784
STEPS_PER_EXECUTION = 50  # Keras's knob for fewer host round trips; 50 is a common documented choice


def _permutation(n: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([7, epoch]).permutation(n)


IMAGE = (28, 28)


def torch_model(model: str):  # type: ignore[no-untyped-def]
    from torch import nn

    if model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )  # fmt: skip
    return nn.Sequential(nn.Linear(N_FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def keras_layers(model: str) -> list:  # type: ignore[type-arg]
    import keras

    if model == "cnn":
        return [
            keras.Input((*IMAGE, 1)),
            keras.layers.Conv2D(6, 5, padding="same", activation="relu"), keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 5, padding="valid", activation="relu"), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(), keras.layers.Dense(120, activation="relu"),
            keras.layers.Dense(84, activation="relu"), keras.layers.Dense(10),
        ]  # fmt: skip
    return [keras.Input((N_FEATURES,))] + [keras.layers.Dense(u, activation=a) for u, a in LAYERS]


def torch_loop(
    data: dict, epochs: int, bs: int, threads: int, compiled: bool, model_name: str = "mlp"
) -> tuple[list[float], float]:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    shape = (1, *IMAGE) if model_name == "cnn" else (N_FEATURES,)
    x, y = torch.from_numpy(data["x_train"]).reshape(-1, *shape), torch.from_numpy(data["y_train"])
    model = torch_model(model_name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()

    run_step = torch.compile(step) if compiled else step
    times = []
    for epoch in range(1, epochs + 1):
        perm = torch.from_numpy(_permutation(len(x), epoch))
        xs, ys = x[perm], y[perm]
        start = time.perf_counter()
        for xb, yb in zip(xs.split(bs), ys.split(bs), strict=False):
            run_step(xb, yb)
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        acc = (model(torch.from_numpy(data["x_val"]).reshape(-1, *shape)).argmax(1).numpy() == data["y_val"]).mean()
    return times, float(acc)


def tensorflow_loop(
    data: dict, epochs: int, bs: int, threads: int, compiled: bool, model_name: str = "mlp"
) -> tuple[list[float], float]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    model = keras.Sequential(keras_layers(model_name))
    if model_name == "cnn":  # NHWC views of the flat rows
        data = {k: v.reshape(-1, *IMAGE, 1) if k.startswith("x_") else v for k, v in data.items()}
    opt = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    times: list[float] = []
    if compiled:
        model.compile(optimizer=opt, loss=loss_fn, jit_compile=True, steps_per_execution=STEPS_PER_EXECUTION)

        class EpochClock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: object = None) -> None:
                times.append(time.perf_counter() - self.start)

        for epoch in range(1, epochs + 1):  # the same per-epoch order as the other loops
            perm = _permutation(len(data["x_train"]), epoch)
            model.fit(data["x_train"][perm], data["y_train"][perm], batch_size=bs, epochs=1,
                      shuffle=False, verbose=0, callbacks=[EpochClock()])  # fmt: skip
    else:

        @tf.function(jit_compile=False)
        def step(xb: tf.Tensor, yb: tf.Tensor) -> None:
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=False))

        n = len(data["x_train"])
        sizes = [bs] * (n // bs) + ([n % bs] if n % bs else [])
        for epoch in range(1, epochs + 1):
            perm = _permutation(n, epoch)
            # Split into batches before the clock, as PyTorch's split views are: slicing per step
            # would add a strided-slice op to every step of this loop only.
            xs, ys = (
                tf.split(tf.constant(data["x_train"][perm]), sizes),
                tf.split(tf.constant(data["y_train"][perm]), sizes),
            )
            start = time.perf_counter()
            for xb, yb in zip(xs, ys, strict=True):
                step(xb, yb)
            float(opt.iterations.numpy())  # wait for the last step
            times.append(time.perf_counter() - start)
    acc = (model.predict_on_batch(data["x_val"]).argmax(1) == data["y_val"]).mean()
    return times, float(acc)


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
    parser.add_argument("framework", choices=["pytorch", "tensorflow"])
    parser.add_argument("--mode", choices=["eager", "compiled", "gemm-floor"], default="eager")
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--data", help="a prepared classification .npz (784 features)")
    parser.add_argument("--train-samples", type=int, default=60000, help="gemm-floor: rows per epoch")
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
        loop = torch_loop if args.framework == "pytorch" else tensorflow_loop
        times, acc = loop(data, args.epochs, args.batch_size, args.threads, args.mode == "compiled", args.model)
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(json.dumps({"framework": args.framework, "mode": args.mode, "model": args.model, "batch_size": args.batch_size,
                      "epoch_seconds": times, "steady_epoch_seconds": steady,
                      "val_accuracy": None if acc != acc else acc}))  # fmt: skip


if __name__ == "__main__":
    main()
