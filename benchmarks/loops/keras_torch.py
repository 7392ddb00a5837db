"""Keras 3 on PyTorch: "eager", the loop of Keras's guide "Writing a training loop from scratch in
PyTorch" (forward, Keras loss, `loss.backward()`, then Keras's own `optimizer.apply(grads,
model.trainable_weights)` under `torch.no_grad()`, so the update is Keras's); "compiled", Keras `fit`
with `jit_compile=True` (Keras's torch.compile of its train step; the torch backend refuses
steps_per_execution > 1, schemas/tiers.py)."""

from __future__ import annotations

import os
import time

from loops.common import (
    images,
    keras_accuracy,
    keras_adam,
    keras_fit_loop,
    keras_layers,
    keras_loss,
    permutation,
)


def loop(
    data: dict, epochs: int, bs: int, threads: int, compiled: bool, model_name: str = "mlp"
) -> tuple[list[float], float]:
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    data = images(data, model_name)
    with keras.device("cpu"):
        model = keras.Sequential(keras_layers(model_name))
        if compiled:
            return keras_fit_loop(model, data, epochs, bs, 1), keras_accuracy(model, data)
        optimizer, loss_fn = keras_adam(), keras_loss()
        optimizer.build(model.trainable_variables)
        x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
        times: list[float] = []
        for epoch in range(1, epochs + 1):
            perm = torch.from_numpy(permutation(len(x), epoch))
            xs, ys = x[perm].split(bs), y[perm].split(bs)
            start = time.perf_counter()
            for xb, yb in zip(xs, ys, strict=True):
                logits = model(xb)
                loss = loss_fn(yb, logits)
                model.zero_grad()
                loss.backward()
                trainable_weights = list(model.trainable_weights)
                gradients = [v.value.grad for v in trainable_weights]
                with torch.no_grad():
                    optimizer.apply(gradients, trainable_weights)
            times.append(time.perf_counter() - start)
        return times, keras_accuracy(model, data)
