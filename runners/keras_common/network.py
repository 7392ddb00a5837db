"""The spec's layer list as a Keras model, carrying the shared numpy weights (every Keras runner:
tensorflow, keras-jax, keras-torch; it imports keras only, so the backend is whatever the runner set
in KERAS_BACKEND before importing it).

Keras computes channels-last with (kh, kw, in, out) kernels and flattens an image (h, w, c): the
canonical layout of schemas/layers.py is Keras's own, so the weights load as they are. Its "same"
padding, its batch_norm momentum (the weight of the old moving average) and its epsilon are the
spec's definitions; the spec spells momentum and epsilon out because Keras's defaults differ from
PyTorch's.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from schemas import layers as kinds
from schemas.job import Workload


def _keras_layer(layer: Any) -> Any:
    if isinstance(layer, kinds.Dense):
        return keras.layers.Dense(layer.units, activation=layer.activation)
    if isinstance(layer, kinds.Conv2D):
        return keras.layers.Conv2D(layer.filters, layer.kernel, strides=layer.stride, padding=layer.padding,
                                   activation=layer.activation, use_bias=layer.bias)  # fmt: skip
    if isinstance(layer, kinds.MaxPool2D):
        return keras.layers.MaxPooling2D(layer.pool, strides=layer.step, padding="valid")
    if isinstance(layer, kinds.Flatten):
        return keras.layers.Flatten()
    if isinstance(layer, kinds.BatchNorm):
        return keras.layers.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon)
    if isinstance(layer, kinds.Dropout):
        return keras.layers.Dropout(layer.rate)
    raise TypeError(f"no Keras layer for {layer!r}")


def build_model(workload: Workload, weights: list[tuple[np.ndarray, np.ndarray]]) -> keras.Sequential:
    first: list[Any] = [keras.Input(shape=workload.input_shape, dtype="float32")]
    model = keras.Sequential(first + [_keras_layer(layer) for layer in workload.layers])
    pairs = iter(weights)
    for spec_layer, keras_layer in zip(workload.layers, model.layers, strict=True):
        if isinstance(spec_layer, kinds.BatchNorm):  # gamma, beta, then moving mean 0 and variance 1
            gamma, beta = next(pairs)
            keras_layer.set_weights([gamma, beta, np.zeros_like(gamma), np.ones_like(gamma)])
        elif isinstance(spec_layer, kinds.Conv2D) and not spec_layer.bias:
            keras_layer.set_weights([next(pairs)[0]])  # the canonical zero bias has no place to go
        elif isinstance(spec_layer, kinds.WEIGHTED):
            keras_layer.set_weights(list(next(pairs)))
    return model


def as_input(x: np.ndarray, workload: Workload) -> np.ndarray:
    """Flat rows as the model's input: (n, h, w, c) images for a conv net (a view, no copy)."""
    return x.reshape(len(x), *workload.input_shape)
