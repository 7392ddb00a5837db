"""Keras 3 (TensorFlow backend) plug-in: Keras's own training step, driven by a plain loop.

Choice: each batch runs `model.train_step((x, y))` -- the very step `fit` runs -- compiled once with
`tf.function(jit_compile=...)` as `fit` compiles it, so Keras's loss, gradient and optimizer maths are
unchanged. `fit` itself is not used: on a GPU its data adapter (host numpy -> tf.data slicing and
host->device copies per batch), its per-batch callback and log handling would sit inside the timed
region, while the PyTorch runner's timed region holds only the training steps on tensors already on
the device. Here, as there, the training arrays are copied to the job's device once when the session
is built; each epoch's permutation gather and split into batches happen on the device before the
clock starts; the timed loop only dispatches one compiled step per batch and never reads anything
back; the epoch's running mean loss (Keras's loss tracker, weighted by batch size as `fit`'s
history) is read once at the end, which waits for the device before the clock stops. `jit_compile`
is pinned (False unless the spec asks for "jit") because Keras's "auto" would silently pick XLA.

Tier "tuned" (schemas/tiers.py) adds Keras's own speed switch for small models, `steps_per_execution`,
inside this loop and within the same maths: one batch of 32 samples is too little work to hide the
cost of a Python dispatch per step, so the full batches are stacked before the clock into chunks of
STEPS_PER_EXECUTION ([k, batch, ...] tensors) and one compiled call runs `model.train_step` on each
batch of a chunk in a graph while-loop (as Keras's `multi_step_on_iterator`, which XLA-compiles each
step only; here, with "jit", the whole loop is one XLA cluster), returning Keras's running mean loss
after every step, kept on the device.
The last partial batch still goes through the single-step function; the parity probe after batch
FIRST_STEPS is taken from those per-step losses after the clock stops, so it stays exact, and the
epoch still has one host read. Matched jobs run exactly as above.
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
from runners.fairness import batch_sizes, layer_notes  # noqa: E402
from runners.keras_common.network import (  # noqa: E402
    KerasEvaluation,
    as_input,
    build_model,
)
from schemas.common import FIRST_STEPS  # noqa: E402
from schemas.job import Adam, JobSpec  # noqa: E402
from schemas.tiers import STEPS_PER_EXECUTION, TUNED  # noqa: E402


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


class KerasSession(KerasEvaluation):
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        _configure(spec)
        self.spec = spec
        self.device = "/GPU:0" if spec.device.kind == "gpu" else "/CPU:0"
        w = spec.workload
        self.model = build_model(w, weights, spec.seed)
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
        jit = spec.compile == "jit"
        self.model.compile(optimizer=optimizer, loss=loss, jit_compile=jit)
        # Create the optimizer's slots now, as Keras's own `_symbolic_build` does before `fit` traces
        # its step: the compiled step below must never create variables (tf.function allows that on
        # the first trace only, and the last, smaller batch traces a second time).
        self.model.optimizer.build(self.model.trainable_variables)
        with tf.device(self.device):  # once, outside any clock (the PyTorch runner's .to(device))
            self.x = tf.identity(tf.convert_to_tensor(as_input(data.x_train, w)))
            self.y = tf.identity(tf.convert_to_tensor(data.y_train))
            self.x_val = tf.identity(tf.convert_to_tensor(as_input(data.x_val, w)))
        model = self.model

        @tf.autograph.experimental.do_not_convert  # as Keras wraps its own step function
        def step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
            # Keras's running mean loss after this batch: a device tensor, never read per step.
            return model.train_step((xb, yb))["loss"]

        # At most two traces: the full batch and the last, smaller one.
        self.step = tf.function(step, jit_compile=jit, reduce_retracing=True)
        self.first_steps_loss: tuple[int, float] | None = None
        self.tuned = spec.tier == "tuned"
        if self.tuned:
            loss_dtype = tf.as_dtype(keras.config.floatx())  # the loss tracker's (a Keras Mean's) dtype

            @tf.autograph.experimental.do_not_convert  # an explicit while-loop, as Keras's own
            def multi_step(xs: tf.Tensor, ys: tf.Tensor) -> tf.Tensor:
                # Keras's `multi_step_on_iterator` (backend/tensorflow/trainer.py), over stacked batches
                # instead of an iterator: train_step on xs[i], ys[i] for i in range(k), in order.
                k = tf.shape(xs)[0]

                def body(i: tf.Tensor, losses: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
                    loss = model.train_step((xs[i], ys[i]))["loss"]
                    return i + 1, losses.write(i, loss)

                _, losses = tf.while_loop(
                    lambda i, _: i < k,
                    body,
                    (tf.constant(0), tf.TensorArray(loss_dtype, size=k, element_shape=())),
                )
                return losses.stack()  # the running mean loss after each step: stays on the device

            # At most two traces: a full chunk, and the last, smaller one of the epoch (reduce_retracing
            # relaxes the leading dimension then, so later epochs reuse these).
            self.multi_step = tf.function(multi_step, jit_compile=jit, reduce_retracing=True)

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        if self.tuned:
            return self._train_epoch_chunked(perm)
        n, bs = len(perm), self.spec.workload.batch_size
        sizes = batch_sizes(n, bs)
        with tf.device(self.device):  # gathered and split on the device before the clock starts
            idx = tf.identity(tf.convert_to_tensor(perm, dtype=tf.int64))
            xbs = tf.split(tf.gather(self.x, idx), sizes)
            ybs = tf.split(tf.gather(self.y, idx), sizes)
        self.model.reset_metrics()  # what `fit` does at each epoch's start: the loss tracker restarts
        step = self.step
        # Parity evidence: Keras's running mean loss after the first FIRST_STEPS batches of epoch 1
        # (the output of that step, kept on the device, no sync).
        first_at = FIRST_STEPS - 1 if self.first_steps_loss is None else -1
        first = None
        tf.test.experimental.sync_devices()  # the gather, split and resets are done before the clock
        start = time.perf_counter()
        for i, (xb, yb) in enumerate(zip(xbs, ybs, strict=True)):
            loss = step(xb, yb)
            if i == first_at:
                first = loss
        running = float(loss)  # the epoch's one read: it waits for the device before the clock stops
        seconds = time.perf_counter() - start
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, running if first is None else float(first))
        return seconds, running

    def _train_epoch_chunked(self, perm: np.ndarray) -> tuple[float, float]:
        """Tier "tuned": the same epoch as `train_epoch`, STEPS_PER_EXECUTION train_steps per call."""
        n, bs = len(perm), self.spec.workload.batch_size
        full, k = n // bs, STEPS_PER_EXECUTION
        chunks = batch_sizes(full, k)  # chunks of k full batches, then the smaller rest
        with tf.device(self.device):  # gathered, stacked and split on the device before the clock
            idx = tf.identity(tf.convert_to_tensor(perm, dtype=tf.int64))
            x, y = tf.gather(self.x, idx), tf.gather(self.y, idx)
            xcs = tf.split(tf.reshape(x[: full * bs], [full, bs, *x.shape[1:]]), chunks) if full else []
            ycs = tf.split(tf.reshape(y[: full * bs], [full, bs, *y.shape[1:]]), chunks) if full else []
            rest = (tf.identity(x[full * bs :]), tf.identity(y[full * bs :])) if n % bs else None
        self.model.reset_metrics()  # what `fit` does at each epoch's start: the loss tracker restarts
        multi_step, step = self.multi_step, self.step
        outs = []
        tf.test.experimental.sync_devices()  # the gather, stacking and resets are done before the clock
        start = time.perf_counter()
        for xs, ys in zip(xcs, ycs, strict=True):
            outs.append(multi_step(xs, ys))  # [k] running losses, on the device, never read per call
        # The epoch's one read: it waits for the device before the clock stops.
        running = float(step(*rest)) if rest is not None else float(outs[-1].numpy()[-1])
        seconds = time.perf_counter() - start
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            at = FIRST_STEPS - 1  # batch FIRST_STEPS of epoch 1, read after the clock stopped
            first = float(outs[at // k].numpy()[at % k]) if at < full else running
            self.first_steps_loss = (seen, first)
        return seconds, running

    def memory_peak(self) -> tuple[int, str] | None:
        """The allocator's peak, not nvidia-smi's figure (which shows what TensorFlow reserved)."""
        if self.spec.device.kind != "gpu":
            return None
        peak = tf.config.experimental.get_memory_info("GPU:0").get("peak")
        return (int(peak), 'tf.config.experimental.get_memory_info("GPU:0")["peak"]') if peak else None

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, tf.errors.ResourceExhaustedError)

    def fingerprint(self) -> dict[str, Any]:
        opt = self.model.optimizer
        applied = {k: v for k, v in opt.get_config().items() if isinstance(v, (int, float, bool, str))}
        gpu = None
        if self.spec.device.kind == "gpu":
            from runners.environment import nvidia_driver, nvidia_gpu_uuid
            from runners.gpu import cublas_version

            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            gpu = {
                "name": details.get("device_name", "unknown"),
                "driver": nvidia_driver(),
                "cuda": tf.sysconfig.get_build_info().get("cuda_version"),
                "gpu_uuid": nvidia_gpu_uuid(0),
                "compute_capability": ".".join(map(str, details.get("compute_capability", ()))) or None,
                "cudnn": tf.sysconfig.get_build_info().get("cudnn_version"),
                "cublas": cublas_version(),
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
            "execution": "Keras Model.train_step in tf.function"
            + (f", {STEPS_PER_EXECUTION} train_steps per call (steps_per_execution)" if self.tuned else "")
            + (", XLA (jit_compile=True)" if self.spec.compile == "jit" else " (jit_compile=False)"),
            "input_path": (
                "device-resident tensors, gathered and split per epoch before the clock; "
                + (
                    f"full batches stacked {STEPS_PER_EXECUTION} per chunk, one compiled call of that "
                    "many Keras train_steps per chunk, the last partial batch one train_step"
                    if self.tuned
                    else "one compiled Keras train_step per batch"
                )
            ),
            "tuning": TUNED["tensorflow"] if self.tuned else (),
            "host_syncs": {"per_step": 0, "per_epoch": 1},
            # One switch covers matmuls and convolutions in TensorFlow; read back, in PyTorch's words.
            "tf32_applied": "matmul {0}, cudnn.conv {0}".format(
                "tf32" if tf.config.experimental.tensor_float_32_execution_enabled() else "ieee"
            ),
            "notes": (
                ("Adam: Keras adds epsilon to sqrt(v) before bias correction; PyTorch after",)
                if isinstance(self.spec.workload.optimizer, Adam)
                else ()
            )
            + layer_notes(self.spec.workload),
        }


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> KerasSession:
    return KerasSession(spec, data, weights)
