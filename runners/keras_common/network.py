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

from runners.fairness import dropout_seed, layer_notes
from schemas import layers as kinds
from schemas.job import Adam, Workload


def _keras_layer(layer: Any, seed: int, index: int) -> Any:
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
        return keras.layers.Dropout(layer.rate, seed=dropout_seed(seed, index))
    raise TypeError(f"no Keras layer for {layer!r}")


def build_model(workload: Workload, weights: list[tuple[np.ndarray, np.ndarray]], seed: int) -> keras.Sequential:
    """The spec's network with the given weights; `seed` (the job's) fixes dropout's masks."""
    first: list[Any] = [keras.Input(shape=workload.input_shape, dtype="float32")]
    layers = [_keras_layer(layer, seed, i) for i, layer in enumerate(workload.layers)]
    model = keras.Sequential(first + layers)
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


# --- what every Keras runner compiles the model with: the spec's optimizer and loss, Keras's maths ---


def make_optimizer(workload: Workload) -> Any:
    """Keras's own Adam or SGD with every hyperparameter of the spec (Keras's epsilon placement is the
    reference the PyTorch runner corrects towards: nothing to correct here)."""
    opt = workload.optimizer
    if isinstance(opt, Adam):
        return keras.optimizers.Adam(
            learning_rate=opt.learning_rate, beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon
        )
    return keras.optimizers.SGD(learning_rate=opt.learning_rate, momentum=opt.momentum, nesterov=opt.nesterov)


def make_loss(workload: Workload) -> Any:
    """Logits into Keras's fused cross-entropy, or plain MSE (fairness rule 4)."""
    if workload.loss == "cross_entropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def describe_loss(model: Any, workload: Workload) -> str:
    args = "(from_logits=True)" if workload.loss == "cross_entropy" else "()"
    return f"keras.losses.{type(model.loss).__name__}{args}"


def optimizer_applied(model: Any) -> dict[str, Any]:
    """The optimizer as Keras reports it after compile (read back, not the spec's values)."""
    opt = model.optimizer
    applied = {k: v for k, v in opt.get_config().items() if isinstance(v, (int, float, bool, str))}
    return {"class": type(opt).__name__, **applied}


def keras_notes(workload: Workload) -> tuple[str, ...]:
    adam = ("Adam: Keras adds epsilon to sqrt(v) before bias correction; PyTorch after",)
    return (adam if isinstance(workload.optimizer, Adam) else ()) + layer_notes(workload)


def trainable_count(model: Any) -> int:
    """Trainable weights only, as PyTorch's parameters(): batch_norm's moving statistics are weights
    to Keras (count_params) and buffers to PyTorch."""
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def in_chunks(x: Any, rows: int, run: Any) -> list[Any]:
    """`run` over slices of `rows` rows of a device-resident tensor (any backend's)."""
    n = int(x.shape[0])
    return [run(x[i : i + rows]) for i in range(0, n, rows)]


def predictions(model: Any, x: Any, rows: int) -> np.ndarray:
    """Raw outputs for a whole split: Keras's own inference step (compiled as the model is) on slices of
    the device-resident copy, never converted from the host again (numpy chunks took 161 ms for
    Fashion-MNIST's train + val on a 2-vCPU VM, resident slices 98 ms, TensorFlow backend)."""
    return np.concatenate(in_chunks(x, rows, model.predict_on_batch)).astype(np.float32, copy=False)


def encoder(model: Any, workload: Workload) -> Any:
    """An autoencoder's layers up to its code, run in inference mode (batch_norm's moving statistics,
    no dropout): chunk -> codes, as a tensor of the backend."""
    layers = model.layers[: (workload.code_layer or 0) + 1]

    def encode(chunk: Any) -> Any:
        for layer in layers:
            chunk = layer(chunk, training=False)
        return chunk

    return encode


class KerasEvaluation:
    """Session methods every Keras runner shares (the harness's Session protocol): a session sets
    `model`, `x`, `x_val` (device-resident inputs), `spec` and EVAL_ROWS."""

    # Rows per forward pass when evaluating a whole split (outside the clock). Measured on a 2-vCPU VM,
    # TensorFlow backend, Fashion-MNIST train + val (70,000 rows, 784-128-128-10): 2048: 127 ms, 4096:
    # 116, 8192: 103, 16384: 98, all rows: 93 (best of 6); 16384 keeps a wide network's activations to
    # a few hundred MB.
    EVAL_ROWS = 16384
    model: Any
    x: Any
    x_val: Any
    spec: Any

    def param_count(self) -> int:
        return trainable_count(self.model)

    def outputs(self, split: str) -> np.ndarray:
        return predictions(self.model, self.x if split == "train" else self.x_val, self.EVAL_ROWS)

    def codes(self, split: str) -> np.ndarray:
        encode = encoder(self.model, self.spec.workload)
        chunks = in_chunks(self.x if split == "train" else self.x_val, self.EVAL_ROWS, encode)
        return np.concatenate([np.asarray(c) for c in chunks])
