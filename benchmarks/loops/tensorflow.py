"""TensorFlow (Keras 3): "eager", one `tf.function` step with GradientTape and `apply_gradients` per
batch (TensorFlow's standard custom loop); "compiled", Keras `fit` with XLA and steps_per_execution."""

from __future__ import annotations

import os
import time

from loops.common import (
    STEPS_PER_EXECUTION,
    batch_sizes,
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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    model = keras.Sequential(keras_layers(model_name))
    data = images(data, model_name)
    if compiled:
        return keras_fit_loop(model, data, epochs, bs, STEPS_PER_EXECUTION), keras_accuracy(model, data)
    opt, loss_fn = keras_adam(), keras_loss()

    @tf.function(jit_compile=False)
    def step(xb: tf.Tensor, yb: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=False))

    n = len(data["x_train"])
    sizes = batch_sizes(n, bs)
    times: list[float] = []
    for epoch in range(1, epochs + 1):
        perm = permutation(n, epoch)
        # Split into batches before the clock, as PyTorch's split views are: slicing per step
        # would add a strided-slice op to every step of this loop only.
        xs = tf.split(tf.constant(data["x_train"][perm]), sizes)
        ys = tf.split(tf.constant(data["y_train"][perm]), sizes)
        start = time.perf_counter()
        for xb, yb in zip(xs, ys, strict=True):
            step(xb, yb)
        float(opt.iterations.numpy())  # wait for the last step
        times.append(time.perf_counter() - start)
    return times, keras_accuracy(model, data)
