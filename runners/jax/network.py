"""The spec's layer list as a Flax (linen) module, and the shared numpy weights as its variables.

JAX and Flax compute channels-last with (in, out) dense and (kh, kw, in, out) conv kernels, and a
reshape of an (n, h, w, c) batch flattens it (h, w, c): the canonical layout of schemas/layers.py is
Flax's own, so the weights load as they are, with no reordering. Per layer kind:
  - conv2d: explicit (top, bottom), (left, right) zero pads from schemas.layers.conv_pads, which are
    TensorFlow's "same" (the odd row and column after the image), so no padding string is trusted;
  - max_pool2d: "VALID" windows, as the spec defines them;
  - batch_norm: flax's `momentum` is the weight of the old moving average, as the spec's (Keras's);
    `use_fast_variance=False` takes the variance as the mean of squared deviations (biased, Keras's
    two-pass formula, not E[x^2] - E[x]^2); the moving variance is updated with that biased variance,
    as Keras does (PyTorch uses the unbiased one: runners.fairness.layer_notes);
  - dropout: flax's inverted dropout, its masks drawn from the step's `dropout` key.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from schemas import layers as kinds
from schemas.job import Workload

_ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "sigmoid": nn.sigmoid, "linear": lambda x: x}


class Network(nn.Module):
    """`upto`: stop after that layer (its activation included): an autoencoder's code."""

    layers: tuple[Any, ...]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, upto: int | None = None) -> jax.Array:
        for i, layer in enumerate(self.layers):
            name = f"layer{i}"
            if isinstance(layer, kinds.Dense):
                x = _ACTIVATIONS[layer.activation](nn.Dense(layer.units, name=name)(x))
            elif isinstance(layer, kinds.Conv2D):
                top, bottom, left, right = kinds.conv_pads(layer, x.shape[1], x.shape[2])
                conv = nn.Conv(layer.filters, (layer.kernel, layer.kernel), strides=(layer.stride, layer.stride),
                               padding=((top, bottom), (left, right)), use_bias=layer.bias, name=name)  # fmt: skip
                x = _ACTIVATIONS[layer.activation](conv(x))
            elif isinstance(layer, kinds.MaxPool2D):
                x = nn.max_pool(
                    x, (layer.pool, layer.pool), strides=(layer.step, layer.step), padding="VALID"
                )
            elif isinstance(layer, kinds.Flatten):
                x = x.reshape(x.shape[0], -1)
            elif isinstance(layer, kinds.BatchNorm):
                x = nn.BatchNorm(use_running_average=not train, momentum=layer.momentum, epsilon=layer.epsilon,
                                 use_fast_variance=False, name=name)(x)  # fmt: skip
            elif isinstance(layer, kinds.Dropout):
                x = nn.Dropout(layer.rate, deterministic=not train, name=name)(x)
            else:
                raise TypeError(f"no Flax layer for {layer!r}")
            if i == upto:
                break
        return x


def variables(workload: Workload, weights: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """{"params": ..., "batch_stats": ...} as numpy, named as `Network` names its layers. A conv2d
    without a bias has no place for the canonical zero bias (as in Keras and PyTorch)."""
    params: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    pairs = iter(weights)
    for i, layer in enumerate(workload.layers):
        name = f"layer{i}"
        if isinstance(layer, kinds.BatchNorm):  # gamma, beta; moving mean 0 and variance 1
            gamma, beta = next(pairs)
            params[name] = {"scale": gamma, "bias": beta}
            stats[name] = {"mean": np.zeros_like(gamma), "var": np.ones_like(gamma)}
        elif isinstance(layer, kinds.Conv2D) and not layer.bias:
            params[name] = {"kernel": next(pairs)[0]}
        elif isinstance(layer, kinds.WEIGHTED):
            kernel, bias = next(pairs)
            params[name] = {"kernel": kernel, "bias": bias}
    return {"params": params, "batch_stats": stats}


def check_layout(model: Network, given: dict[str, Any], input_shape: tuple[int, ...]) -> None:
    """Raise unless the given variables have exactly the names and shapes Flax itself would create
    (asked of `init` abstractly: shapes only, nothing computed)."""
    abstract = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, *input_shape), jnp.float32), train=False)
    )
    want = jax.tree_util.tree_map_with_path(lambda p, a: (jax.tree_util.keystr(p), a.shape), dict(abstract))
    have = jax.tree_util.tree_map_with_path(lambda p, a: (jax.tree_util.keystr(p), a.shape), given)
    want_leaves = sorted(jax.tree_util.tree_leaves(want, is_leaf=lambda v: isinstance(v, tuple)))
    have_leaves = sorted(jax.tree_util.tree_leaves(have, is_leaf=lambda v: isinstance(v, tuple)))
    if want_leaves != have_leaves:
        raise ValueError(f"weights do not fit the Flax network: {have_leaves} vs {want_leaves}")
