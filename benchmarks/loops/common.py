"""What every hand loop shares: the networks, the epoch order, the batch split, Keras's Adam and the
Keras `fit` loop (the compiled yardstick of the Keras backends that allow it)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runners.fairness import batch_sizes  # noqa: E402  (the runners' batch split)
from schemas.tiers import STEPS_PER_EXECUTION  # noqa: E402  (the tuned tier's steps per host call)

LAYERS = [(128, "relu"), (128, "relu"), (10, None)]
N_FEATURES = 784
IMAGE = (28, 28)
# Adam as every runner's job has it (benchmarks/perf.py's paper_spec), with Keras's epsilon placement.
LR, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-7

__all__ = ["STEPS_PER_EXECUTION", "batch_sizes", "LAYERS", "N_FEATURES", "IMAGE", "LR", "BETA_1", "BETA_2", "EPSILON"]


def permutation(n: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([7, epoch]).permutation(n)


def split_points(n: int, bs: int) -> list[int]:
    """np.split's indices for `batch_sizes(n, bs)`."""
    return list(np.cumsum(batch_sizes(n, bs))[:-1])


def jax_on_cpu(threads: int) -> None:
    """JAX on the CPU with `threads` intra-op threads and full float32 matmuls, as the JAX runners
    set it (runners/jax/device.py): XLA:CPU has one thread pool, sized by NPROC when its client starts,
    so this runs before anything touches a device."""
    os.environ["NPROC"] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false".strip()
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_default_matmul_precision", "highest")


def images(data: dict[str, np.ndarray], model_name: str) -> dict[str, np.ndarray]:
    """Channels-last (n, 28, 28, 1) views of the flat rows for the cnn (Keras's and Flax's layout)."""
    if model_name != "cnn":
        return data
    return {k: v.reshape(-1, *IMAGE, 1) if k.startswith("x_") else v for k, v in data.items()}


def keras_layers(model: str) -> list[Any]:
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


def keras_adam() -> Any:
    """Keras's own Adam: the maths every runner follows (epsilon added to sqrt(v), bias correction
    folded into the step size)."""
    import keras

    return keras.optimizers.Adam(learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON)


def keras_loss() -> Any:
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def keras_fit_loop(
    model: Any, data: dict[str, np.ndarray], epochs: int, bs: int, steps_per_execution: int
) -> list[float]:
    """Keras's documented fast path: `fit` with XLA (`jit_compile=True`; torch.compile on the torch
    backend) and `steps_per_execution`, one `fit` call per epoch on that epoch's order (the same order
    as the other loops), timed from Keras's own epoch callbacks."""
    import keras

    model.compile(optimizer=keras_adam(), loss=keras_loss(), jit_compile=True,
                  steps_per_execution=steps_per_execution)  # fmt: skip
    times: list[float] = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            times.append(time.perf_counter() - self.start)

    for epoch in range(1, epochs + 1):
        perm = permutation(len(data["x_train"]), epoch)
        model.fit(data["x_train"][perm], data["y_train"][perm], batch_size=bs, epochs=1,
                  shuffle=False, verbose=0, callbacks=[EpochClock()])  # fmt: skip
    return times


def keras_accuracy(model: Any, data: dict[str, np.ndarray]) -> float:
    return float((np.asarray(model.predict_on_batch(data["x_val"])).argmax(1) == data["y_val"]).mean())
