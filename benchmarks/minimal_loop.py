"""The simplest fast training loop one would hand-write in each framework: a yardstick for the runners.

If a runner's steady-state epoch is much slower than this, the runner measures its own harness, not
the framework. Run inside the framework's venv from the repo root:

    .venvs/pytorch/bin/python benchmarks/minimal_loop.py pytorch --data DIR/fashion-mnist.npz
    .venvs/tensorflow/bin/python benchmarks/minimal_loop.py tensorflow --data DIR/fashion-mnist.npz

Prints one JSON line: {"framework", "epoch_seconds": [...], "steady_epoch_seconds", "val_accuracy"}.
Same network, optimizer settings, batch size, threads and batch order as the paper's classification
job; nothing else (no evaluation per epoch, no loss bookkeeping, no report).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

LAYERS = [(128, "relu"), (128, "relu"), (10, None)]


def torch_loop(data: dict, epochs: int, bs: int, threads: int) -> tuple[list[float], float]:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for epoch in range(1, epochs + 1):
        perm = torch.from_numpy(np.random.default_rng([7, epoch]).permutation(len(x)))
        xs, ys = x[perm], y[perm]
        start = time.perf_counter()
        for xb, yb in zip(xs.split(bs), ys.split(bs), strict=False):
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        acc = (model(torch.from_numpy(data["x_val"])).argmax(1).numpy() == data["y_val"]).mean()
    return times, float(acc)


def tensorflow_loop(data: dict, epochs: int, bs: int, threads: int) -> tuple[list[float], float]:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = keras.Sequential([keras.Input((784,))] + [keras.layers.Dense(u, activation=a) for u, a in LAYERS])
    opt = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=False)
    def step(xb: tf.Tensor, yb: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        opt.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=False)
        )

    times = []
    for epoch in range(1, epochs + 1):
        perm = np.random.default_rng([7, epoch]).permutation(len(data["x_train"]))
        xs, ys = tf.constant(data["x_train"][perm]), tf.constant(data["y_train"][perm])
        n = int(xs.shape[0])
        start = time.perf_counter()
        for i in range(0, n, bs):
            step(xs[i : i + bs], ys[i : i + bs])
        float(opt.iterations.numpy())  # wait for the last step
        times.append(time.perf_counter() - start)
    acc = (model.predict_on_batch(data["x_val"]).argmax(1) == data["y_val"]).mean()
    return times, float(acc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("framework", choices=["pytorch", "tensorflow"])
    parser.add_argument("--data", required=True, help="a prepared classification .npz (784 features)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with np.load(args.data, allow_pickle=False) as npz:
        data = {k: npz[k] for k in ("x_train", "y_train", "x_val", "y_val")}
    loop = torch_loop if args.framework == "pytorch" else tensorflow_loop
    times, acc = loop(data, args.epochs, args.batch_size, args.threads)
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(
        json.dumps(
            {
                "framework": args.framework,
                "epoch_seconds": times,
                "steady_epoch_seconds": steady,
                "val_accuracy": acc,
            }
        )
    )


if __name__ == "__main__":
    main()
