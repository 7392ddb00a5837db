"""Keras 3 (TensorFlow backend) plug-in: training through `model.fit`, as Keras users train.

Choice: one `fit(epochs=1, shuffle=False)` call per epoch on the arrays already gathered in the
shared permutation order, with the clock read by a callback in `on_epoch_begin`/`on_epoch_end`, so
Keras's data-adapter set-up per call is outside the timed region just like the permutation gather
in the PyTorch runner. `fit` runs its compiled `tf.function` train step per batch; `jit_compile` is
pinned (False unless the spec asks for "jit") because Keras's "auto" would silently pick XLA.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from runners.datasets import Arrays  # noqa: E402
from schemas.common import FIRST_STEPS  # noqa: E402
from schemas.job import Adam, JobSpec  # noqa: E402


def _configure(spec: JobSpec) -> None:
    # Must happen before TensorFlow runs its first op, or it is silently ignored.
    tf.config.threading.set_intra_op_parallelism_threads(spec.threads.intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(spec.threads.inter_op)
    tf.config.experimental.enable_tensor_float_32_execution(spec.tf32)
    gpus = tf.config.list_physical_devices("GPU")
    if spec.device.kind == "cpu":
        tf.config.set_visible_devices([], "GPU")
    elif not gpus:
        raise RuntimeError("spec asks for a GPU but TensorFlow sees none")
    else:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)


class _EpochClock(keras.callbacks.Callback):
    """Reads the clock around the training steps of the epoch only. Keras pythonifies the epoch's
    logs (which waits for the device) before `on_epoch_end`, so the stop time is synchronised."""

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds = time.perf_counter() - self.start


class _FirstSteps(keras.callbacks.Callback):
    """Parity evidence: Keras's running mean loss after the first FIRST_STEPS batches. Attached to
    the first epoch only, so batch-level hooks never run during the steady-state epochs."""

    def __init__(self) -> None:
        super().__init__()
        self.value: float | None = None

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if batch == FIRST_STEPS - 1:
            self.value = float(logs["loss"])


class KerasSession:
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        _configure(spec)
        self.spec = spec
        w = spec.workload
        layers: list[Any] = [keras.Input(shape=(data.x_train.shape[1],), dtype="float32")]
        layers += [keras.layers.Dense(layer.units, activation=layer.activation) for layer in w.layers]
        self.model = keras.Sequential(layers)
        for dense, (kernel, bias) in zip(self.model.layers, weights, strict=False):
            dense.set_weights([kernel, bias])
        opt = w.optimizer
        if isinstance(opt, Adam):
            optimizer = keras.optimizers.Adam(
                learning_rate=opt.learning_rate, beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon
            )
        else:
            optimizer = keras.optimizers.SGD(
                learning_rate=opt.learning_rate, momentum=opt.momentum, nesterov=opt.nesterov
            )
        loss = (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            if w.loss == "cross_entropy"
            else keras.losses.MeanSquaredError()
        )
        self.model.compile(optimizer=optimizer, loss=loss, jit_compile=spec.compile == "jit")
        self.x, self.y = data.x_train, data.y_train
        self.clock = _EpochClock()
        self.first_steps_loss: tuple[int, float] | None = None

    def param_count(self) -> int:
        return int(self.model.count_params())

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(x), dtype=np.float32)

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        xs, ys = self.x[perm], self.y[perm]  # gathered before the clock starts
        first = _FirstSteps() if self.first_steps_loss is None else None
        history = self.model.fit(
            xs,
            ys,
            batch_size=self.spec.workload.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[self.clock] + ([first] if first else []),
        )
        running = float(history.history["loss"][0])
        if first is not None:
            seen = min(len(xs), FIRST_STEPS * self.spec.workload.batch_size)
            self.first_steps_loss = (seen, running if first.value is None else first.value)
        return self.clock.seconds, running

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, tf.errors.ResourceExhaustedError)

    def fingerprint(self) -> dict[str, Any]:
        opt = self.model.optimizer
        applied = {k: v for k, v in opt.get_config().items() if isinstance(v, (int, float, bool, str))}
        gpu = None
        if self.spec.device.kind == "gpu":
            from runners.environment import nvidia_driver, nvidia_gpu_uuid

            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            gpu = {
                "name": details.get("device_name", "unknown"),
                "driver": nvidia_driver(),
                "cuda": tf.sysconfig.get_build_info().get("cuda_version"),
                "gpu_uuid": nvidia_gpu_uuid(0),
            }
        return {
            "framework": "tensorflow",
            "framework_version": f"{tf.__version__} (keras {keras.__version__})",
            "threads": {
                "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            },
            "gpu": gpu,
            "optimizer": {"class": type(opt).__name__, **applied},
            "loss": f"keras.losses.{type(self.model.loss).__name__}"
            + ("(from_logits=True)" if self.spec.workload.loss == "cross_entropy" else "()"),
            "execution": "model.fit, XLA (jit_compile=True)"
            if self.spec.compile == "jit"
            else "model.fit, tf.function graph (jit_compile=False)",
            "notes": ("Adam: Keras adds epsilon to sqrt(v) before bias correction; PyTorch after",)
            if isinstance(self.spec.workload.optimizer, Adam)
            else (),
        }


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> KerasSession:
    return KerasSession(spec, data, weights)
