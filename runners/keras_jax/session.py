"""Keras 3 on the JAX backend: the tensorflow runner's Keras model, trained the way `fit` trains on JAX.

Choice: Keras's JAX trainer is stateless. `fit` builds the model, loss and optimizer state
(`_symbolic_build`), takes the variables' values out of the model (`_get_jax_state`), runs
`jax.jit(model.train_step, donate_argnums=0)` (`make_train_function`) on (state, batch) once per batch
and puts the state back (`jax_state_sync`) at the end of each epoch. This plug-in does exactly that,
without `fit`'s data adapter and callbacks (see runners/tensorflow/session.py for why): the training
arrays are put on the job's device once, each epoch's permutation gather and split happen on the
device before the clock starts, the timed loop only dispatches one jitted step per batch and reads
nothing back, and the epoch's running mean loss (Keras's loss tracker, weighted by batch size) is read
once at the end, after the last step's state is ready. So Keras's loss, gradient and optimizer maths
run unchanged.

Tier "tuned" (schemas/tiers.py): STEPS_PER_EXECUTION of the same stateless train_steps per jitted
call. Before the clock the epoch's full batches are stacked into chunks of that many ([k, batch, ...],
runners/jax/chunks.py, shared with the jax runner); one jitted function runs a chunk with `lax.scan`,
carrying Keras's state (donated) and returning the loss tracker's value after each step, kept on the
device for `first_steps_loss`; the last partial batch goes through the one-batch step. Why: at batch
32 a small model's step is short next to the host's dispatch of it. Keras's own `steps_per_execution`
does not remove that on JAX (its JAX trainer loops over the jitted step in Python, one dispatch per
step), so the scan is the JAX way of doing what that setting does on TensorFlow; the steps, their order
and their arithmetic are Keras's. The full chunk and the smaller last one compile in epoch 1; steady
epochs never compile.

Compile modes: Keras's default for JAX (`jit_compile="auto"`) is XLA, and JAX has no fast eager path
(op-by-op dispatch of the step would measure Python, not Keras): "none" and "jit" both run the jitted
step, and the manifest says so.

Threads: XLA:CPU sizes its one thread pool, which runs every op and any independent ops side by side,
from NPROC when its client starts (XLA_FLAGS' --xla_cpu_multi_thread_eigen=false alone still let a
step use both cores of a 2-vCPU VM; NPROC=1 kept it on one thread). The pool's size is read back from
the threads XLA started.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402  (imported, not started: the XLA client is created at first use, in build)
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
from jax import lax  # noqa: E402

from runners.datasets import Arrays  # noqa: E402
from runners.fairness import batch_sizes  # noqa: E402
from runners.jax.chunks import chunked, value_after  # noqa: E402
from runners.keras_common.network import (  # noqa: E402
    KerasEvaluation,
    as_input,
    build_model,
    describe_loss,
    keras_notes,
    make_loss,
    make_optimizer,
    optimizer_applied,
)
from schemas.common import FIRST_STEPS  # noqa: E402
from schemas.job import JobSpec  # noqa: E402
from schemas.tiers import STEPS_PER_EXECUTION, TUNED  # noqa: E402

POOL_THREAD = "tf_XLAEigen"  # the name XLA:CPU gives its intra-op pool's threads


def _configure(spec: JobSpec) -> jax.Device:
    """Before XLA's client exists: its thread pool size, the platform and full float32 matmuls."""
    from jax._src import xla_bridge

    if xla_bridge._backends:  # too late: NPROC and JAX_PLATFORMS are read once, when the client starts
        raise RuntimeError("JAX's backend started before the runner could bound its threads")
    os.environ["NPROC"] = str(spec.threads.intra_op)
    if spec.threads.intra_op == 1:  # single-threaded Eigen kernels too (no pool hand-off per op)
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if spec.tf32 else "highest")
    if spec.device.kind == "cpu":
        jax.config.update("jax_platforms", "cpu")
        return jax.devices("cpu")[0]
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        raise RuntimeError("spec asks for a GPU but JAX sees none")
    return gpus[0]


def _pool_threads() -> int:
    """How many threads XLA:CPU's intra-op pool has (read from /proc: JAX does not say)."""
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            names.append(open(f"/proc/self/task/{tid}/comm").read().strip())
        except OSError:  # a thread that ended while we looked
            continue
    return names.count(POOL_THREAD)


class KerasJaxSession(KerasEvaluation):
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.device = _configure(spec)
        w = spec.workload
        with jax.default_device(self.device):
            self.model = build_model(w, weights, spec.seed)
            self.model.compile(optimizer=make_optimizer(w), loss=make_loss(w), jit_compile=True)
            # Once, outside any clock (the PyTorch runner's .to(device)); JAX's default int is int32.
            self.x = jax.device_put(as_input(data.x_train, w), self.device)
            self.y = jax.device_put(_labels(data.y_train), self.device)
            self.x_val = jax.device_put(as_input(data.x_val, w), self.device)
            bs = min(w.batch_size, len(data.x_train))
            # What `fit` does before its first step: loss, metrics and optimizer slots built outside
            # the jitted step (a stateless step must never create variables).
            self.model._symbolic_build(data_batch=(self.x[:bs], self.y[:bs]))
        # `make_train_function` for jit_compile=True: the state (argument 0) is donated, so its buffers
        # are updated in place; at most two compilations (the full batch and the last, smaller one).
        self.step = jax.jit(self.model.train_step, donate_argnums=0)
        self.steps = None
        if spec.tier == "tuned":
            train_step = self.model.train_step

            def steps(state, xs, ys):  # type: ignore[no-untyped-def]
                def body(state, batch):  # type: ignore[no-untyped-def]
                    logs, state = train_step(state, batch)
                    return state, logs["loss"]  # the running mean loss after this step

                state, losses = lax.scan(body, state, (xs, ys))
                return losses, state

            self.steps = jax.jit(steps, donate_argnums=0)  # a chunk's steps in one call, state donated
        self.first_steps_loss: tuple[int, float] | None = None
        self.threads = _pool_threads() if self.device.platform == "cpu" else None

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        if self.steps is not None:
            return self._train_chunks(perm)
        n, bs = len(perm), self.spec.workload.batch_size
        ends = np.cumsum(batch_sizes(n, bs))[:-1]
        model = self.model
        with jax.default_device(self.device):  # gathered and split on the device before the clock
            idx = jax.device_put(perm.astype(np.int32), self.device)
            xbs = jnp.split(jnp.take(self.x, idx, axis=0), ends)
            ybs = jnp.split(jnp.take(self.y, idx, axis=0), ends)
        state = self._state_out()
        step = self.step
        first_at = FIRST_STEPS - 1 if self.first_steps_loss is None else -1
        first = None
        jax.block_until_ready((xbs, ybs, state))  # the gather, split and resets are done before the clock
        start = time.perf_counter()
        for i, batch in enumerate(zip(xbs, ybs, strict=True)):
            logs, state = step(state, batch)
            if i == first_at:
                first = logs["loss"]  # a device value, not read here
        running = float(logs["loss"])  # the epoch's one read: it waits for the last step
        jax.block_until_ready(state)  # ready with that step's loss (one executable); never waits long
        seconds = time.perf_counter() - start
        _into_model(model, state)
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, running if first is None else float(first))
        return seconds, running

    def _train_chunks(self, perm: np.ndarray) -> tuple[float, float]:
        """Tier "tuned": train_epoch with STEPS_PER_EXECUTION train_steps per jitted call (lax.scan)."""
        n, bs = len(perm), self.spec.workload.batch_size
        model = self.model
        with jax.default_device(self.device):  # gathered and split on the device before the clock
            idx = jax.device_put(perm.astype(np.int32), self.device)
            xy = (jnp.take(self.x, idx, axis=0), jnp.take(self.y, idx, axis=0))
            chunks, rest = chunked(xy, bs, STEPS_PER_EXECUTION)
        state = self._state_out()
        steps, step = self.steps, self.step
        assert steps is not None
        keep = self.first_steps_loss is None  # epoch 1: each chunk's per-step losses, on the device
        losses = []
        last = None
        jax.block_until_ready((chunks, rest, state))
        start = time.perf_counter()
        for xs, ys in chunks:
            last, state = steps(state, xs, ys)
            if keep:
                losses.append(last)
        if rest is not None:
            logs, state = step(state, rest)
            last = logs["loss"]
        assert last is not None  # an epoch has at least one batch
        running = float(last if rest is not None else last[-1])  # the epoch's one read
        jax.block_until_ready(state)  # ready with that step's loss (one executable); never waits long
        seconds = time.perf_counter() - start
        _into_model(model, state)
        if keep:  # the running loss after batch FIRST_STEPS, as the loop's `first`
            first = value_after(losses, last if rest is not None else None, FIRST_STEPS - 1)
            self.first_steps_loss = (min(n, FIRST_STEPS * bs), running if first is None else float(first))
        return seconds, running

    def _state_out(self) -> Any:
        """fit's per-epoch hand-over: the loss tracker restarts (`reset_metrics`, as at each epoch's
        start) and the variables' values leave the model for the stateless steps, committed to the
        job's device, as the step's outputs are: a mix of committed and uncommitted inputs is another
        signature to jax.jit, which recompiled the step in epoch 2 (0.3 s)."""
        self.model.reset_metrics()
        state = self.model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                          optimizer_variables=True, metrics_variables=True,
                                          purge_model_variables=True)  # fmt: skip
        return jax.device_put(state, self.device)

    def is_oom(self, exc: BaseException) -> bool:
        text = str(exc)
        return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()

    def fingerprint(self) -> dict[str, Any]:
        w, tuned = self.spec.workload, self.spec.tier == "tuned"
        gpu = None
        if self.device.platform == "gpu":
            from runners.environment import nvidia_driver, nvidia_gpu_uuid
            from runners.gpu import cublas_version

            gpu = {
                "name": self.device.device_kind,
                "driver": nvidia_driver(),
                "cuda": None,
                "gpu_uuid": nvidia_gpu_uuid(0),
                "compute_capability": getattr(self.device, "compute_capability", None),
                "cublas": cublas_version(),
            }
        if self.threads is not None:
            threads = {"intra_op": self.threads, "inter_op": self.threads}
            pool_note: tuple[str, ...] = (
                f"threads: XLA:CPU runs every op, and independent ops side by side, on one pool of "
                f"{self.threads} (NPROC={self.spec.threads.intra_op}); it has no separate inter-op setting",
            )
        else:
            threads = {"intra_op": self.spec.threads.intra_op, "inter_op": self.spec.threads.inter_op}
            pool_note = ()
        precision = jax.config.jax_default_matmul_precision
        mode = (
            "tf32" if precision == "tensorfloat32" else "ieee" if precision == "highest" else str(precision)
        )
        return {
            "framework": "keras-jax",
            "framework_version": f"keras {keras.__version__} (jax {jax.__version__})",
            "threads": threads,
            "gpu": gpu,
            "optimizer": optimizer_applied(self.model),
            "loss": describe_loss(self.model, w),
            "execution": (
                f"{STEPS_PER_EXECUTION} Keras JAXTrainer.train_steps (stateless) per jax.jit call (lax.scan "
                "over stacked batches) with donated state, the last partial batch in fit's one-step "
                "make_train_function; compile 'none' and 'jit' are the same: XLA is Keras's only JAX "
                "training path"
                if tuned
                else "Keras JAXTrainer.train_step (stateless) in jax.jit with donated state, as fit's "
                + (
                    "make_train_function; compile 'jit' is the same: XLA is Keras's only JAX training path"
                    if self.spec.compile == "jit"
                    else "make_train_function (jit_compile=True, Keras's default for JAX: it has no fast "
                    "eager path)"
                )
            ),
            "input_path": "device-resident tensors, gathered and split per epoch before the clock; "
            + (
                f"stacked in chunks of {STEPS_PER_EXECUTION} batches, one jitted call per chunk"
                if tuned
                else "one jitted Keras train_step per batch"
            ),
            "tuning": TUNED["keras-jax"] if tuned else (),
            "host_syncs": {"per_step": 0, "per_epoch": 1},
            # jax_default_matmul_precision covers matmuls and convolutions alike; in PyTorch's words.
            "tf32_applied": f"matmul {mode}, cudnn.conv {mode}",
            "notes": keras_notes(w) + pool_note,
        }


def _labels(y: np.ndarray) -> np.ndarray:
    return y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) else y


def _into_model(model: Any, state: Any) -> None:
    """An epoch's final state back into the Keras model, as `fit` leaves it after its epochs."""
    trainable, non_trainable, optimizer, metrics = state
    model._jax_state = {"trainable_variables": trainable, "non_trainable_variables": non_trainable,
                        "optimizer_variables": optimizer, "metrics_variables": metrics}  # fmt: skip
    model._jax_state_synced = False
    model.jax_state_sync()


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> KerasJaxSession:
    return KerasJaxSession(spec, data, weights)
