"""Keras 3 on JAX: "eager", the loop of Keras's guide "Writing a training loop from scratch in JAX"
(`jax.jit` of a stateless train step: `model.stateless_call`, `jax.value_and_grad`,
`optimizer.stateless_apply`; one call per batch); "compiled", that stateless step in `jax.lax.scan`
over chunks of STEPS_PER_EXECUTION batches, state donated (measured faster than Keras `fit` with
`jit_compile=True` and `steps_per_execution`: `fit_loop`, kept for the comparison)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from loops.common import (
    STEPS_PER_EXECUTION,
    images,
    jax_on_cpu,
    keras_accuracy,
    keras_adam,
    keras_fit_loop,
    keras_layers,
    keras_loss,
    permutation,
    split_points,
)

COMPILED = "scan"  # or "fit": which compiled loop `loop` runs (the faster in benchmarks/README.md)


def _setup(threads: int) -> None:
    os.environ["KERAS_BACKEND"] = "jax"
    jax_on_cpu(threads)


def loop(
    data: dict, epochs: int, bs: int, threads: int, compiled: bool, model_name: str = "mlp"
) -> tuple[list[float], float]:
    _setup(threads)
    import keras

    data = images(data, model_name)
    model = keras.Sequential(keras_layers(model_name))
    if compiled and COMPILED == "fit":
        return keras_fit_loop(model, data, epochs, bs, STEPS_PER_EXECUTION), keras_accuracy(model, data)
    return stateless_loop(model, data, epochs, bs, STEPS_PER_EXECUTION if compiled else 1)


def stateless_loop(model: Any, data: dict, epochs: int, bs: int, chunk: int) -> tuple[list[float], float]:
    """The guide's loop; with chunk > 1, `chunk` of its steps per jitted `lax.scan` (the smaller last
    batch alone), the state donated."""
    import jax

    optimizer, loss_fn = keras_adam(), keras_loss()
    optimizer.build(model.trainable_variables)

    def compute_loss_and_updates(trainable: Any, non_trainable: Any, xb: Any, yb: Any) -> Any:
        y_pred, non_trainable = model.stateless_call(trainable, non_trainable, xb, training=True)
        return loss_fn(yb, y_pred), non_trainable

    grad_fn = jax.value_and_grad(compute_loss_and_updates, has_aux=True)

    def train_step(state: Any, batch: Any) -> tuple[Any, Any]:
        trainable, non_trainable, opt_vars = state
        xb, yb = batch
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, xb, yb)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return loss, (trainable, non_trainable, opt_vars)

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )
    x, y = data["x_train"], data["y_train"].astype(np.int32)
    n = len(x)
    times: list[float] = []
    if chunk == 1:
        step = jax.jit(train_step)  # the guide's @jax.jit, no donation
        for epoch in range(1, epochs + 1):
            perm = permutation(n, epoch)
            ends = split_points(n, bs)
            batches = jax.device_put(list(zip(np.split(x[perm], ends), np.split(y[perm], ends), strict=True)))
            jax.block_until_ready(batches)
            start = time.perf_counter()
            for batch in batches:
                _, state = step(state, batch)
            jax.block_until_ready(state)  # the epoch's one wait for the device
            times.append(time.perf_counter() - start)
    else:

        def steps(state: Any, chunk_xy: Any) -> Any:
            def body(carry: Any, batch: Any) -> tuple[Any, None]:
                return train_step(carry, batch)[1], None

            return jax.lax.scan(body, state, chunk_xy)[0]

        run_chunk = jax.jit(steps, donate_argnums=0)
        last_step = jax.jit(train_step, donate_argnums=0)
        full, rest = divmod(n, bs)
        cuts = list(range(chunk, full, chunk))
        for epoch in range(1, epochs + 1):
            perm = permutation(n, epoch)
            xp, yp = x[perm], y[perm]
            xf, yf = xp[: full * bs].reshape(full, bs, *x.shape[1:]), yp[: full * bs].reshape(full, bs)
            chunks = jax.device_put(list(zip(np.split(xf, cuts), np.split(yf, cuts), strict=True)))
            tail = jax.device_put((xp[full * bs :], yp[full * bs :])) if rest else None
            jax.block_until_ready((chunks, tail))
            start = time.perf_counter()
            for xy in chunks:
                state = run_chunk(state, xy)
            if tail is not None:
                state = last_step(state, tail)[1]
            jax.block_until_ready(state)
            times.append(time.perf_counter() - start)
    trainable, non_trainable, _ = state
    for var, value in zip(model.trainable_variables, trainable, strict=True):
        var.assign(value)
    for var, value in zip(model.non_trainable_variables, non_trainable, strict=True):
        var.assign(value)
    return times, keras_accuracy(model, data)
