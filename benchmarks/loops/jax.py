"""JAX (Flax linen + Optax, as runners/jax builds it): "eager", one `jax.jit` train step per batch
(JAX's standard loop: there is no eager training in JAX); "compiled", JAX's fastest documented
practice within the same maths: `jax.lax.scan` over chunks of STEPS_PER_EXECUTION batches in one
jit, the parameter and optimizer buffers donated (`donate_argnums`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from loops.common import (
    BETA_1,
    BETA_2,
    EPSILON,
    LAYERS,
    LR,
    STEPS_PER_EXECUTION,
    images,
    jax_on_cpu,
    permutation,
    split_points,
)


def flax_model(model_name: str) -> Any:
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            for units, act in LAYERS:
                x = nn.Dense(units)(x)
                x = nn.relu(x) if act == "relu" else x
            return x

    class CNN(nn.Module):  # suites/cnn.toml's LeNet-5 (TensorFlow's "same" is 2 on each side here)
        @nn.compact
        def __call__(self, x: Any) -> Any:
            x = nn.max_pool(nn.relu(nn.Conv(6, (5, 5), padding=((2, 2), (2, 2)))(x)), (2, 2), (2, 2))
            x = nn.max_pool(nn.relu(nn.Conv(16, (5, 5), padding="VALID")(x)), (2, 2), (2, 2))
            x = x.reshape(x.shape[0], -1)
            x = nn.relu(nn.Dense(120)(x))
            return nn.Dense(10)(nn.relu(nn.Dense(84)(x)))

    return CNN() if model_name == "cnn" else MLP()


def keras_adam() -> Any:
    """Optax's Adam with Keras's epsilon placement, as runners/jax/optim.py makes it: Optax divides by
    sqrt(v_hat) + eps, Keras by sqrt(v) + eps with the correction folded into the step size; the two
    agree when Optax's eps at step t is eps / sqrt(1 - beta_2^t)."""
    import jax.numpy as jnp
    import optax

    return optax.inject_hyperparams(optax.adam)(
        learning_rate=LR, b1=BETA_1, b2=BETA_2,
        eps=lambda count: EPSILON / jnp.sqrt(1.0 - BETA_2 ** (count + 1.0)),
    )  # fmt: skip


def loop(
    data: dict, epochs: int, bs: int, threads: int, compiled: bool, model_name: str = "mlp"
) -> tuple[list[float], float]:
    jax_on_cpu(threads)
    import jax
    import jax.numpy as jnp
    import optax

    data = images(data, model_name)
    model, tx = flax_model(model_name), keras_adam()
    params = model.init(jax.random.key(0), jnp.asarray(data["x_train"][:1]))["params"]
    opt_state = tx.init(params)

    def step(params: Any, opt_state: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
        def loss_fn(p: Any) -> Any:
            return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    x, y = data["x_train"], data["y_train"].astype(np.int32)
    n = len(x)
    times: list[float] = []
    if not compiled:
        train_step = jax.jit(step)
        for epoch in range(1, epochs + 1):
            perm = permutation(n, epoch)
            ends = split_points(n, bs)
            xs, ys = jax.device_put(np.split(x[perm], ends)), jax.device_put(np.split(y[perm], ends))
            jax.block_until_ready((xs, ys))
            start = time.perf_counter()
            for xb, yb in zip(xs, ys, strict=True):
                params, opt_state = train_step(params, opt_state, xb, yb)
            jax.block_until_ready(params)  # the epoch's one wait for the device
            times.append(time.perf_counter() - start)
    else:

        def steps(params: Any, opt_state: Any, xc: Any, yc: Any) -> tuple[Any, Any]:
            def body(carry: Any, batch: Any) -> tuple[Any, None]:
                return step(*carry, *batch), None

            (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), (xc, yc))
            return params, opt_state

        run_chunk = jax.jit(steps, donate_argnums=(0, 1))
        last_step = jax.jit(step, donate_argnums=(0, 1))
        full, rest = divmod(n, bs)
        k = STEPS_PER_EXECUTION
        # Chunks of k full batches, then the remaining full batches as one shorter chunk, then the
        # smaller last batch: three shapes, compiled in epoch 1.
        cuts = list(range(k, full, k))
        for epoch in range(1, epochs + 1):
            perm = permutation(n, epoch)
            xp, yp = x[perm], y[perm]
            xf = xp[: full * bs].reshape(full, bs, *x.shape[1:])
            yf = yp[: full * bs].reshape(full, bs)
            chunks = jax.device_put(list(zip(np.split(xf, cuts), np.split(yf, cuts), strict=True)))
            tail = jax.device_put((xp[full * bs :], yp[full * bs :])) if rest else None
            jax.block_until_ready((chunks, tail))
            start = time.perf_counter()
            for xc, yc in chunks:
                params, opt_state = run_chunk(params, opt_state, xc, yc)
            if tail is not None:
                params, opt_state = last_step(params, opt_state, *tail)
            jax.block_until_ready(params)
            times.append(time.perf_counter() - start)
    predict = jax.jit(lambda p, xv: model.apply({"params": p}, xv))
    acc = (np.asarray(predict(params, data["x_val"])).argmax(1) == data["y_val"]).mean()
    return times, float(acc)
