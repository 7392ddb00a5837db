"""JAX plug-in: a Flax network and an Optax optimizer in one `jax.jit`-compiled train step.

Choice: JAX's standard execution is tracing and compiling with XLA; there is no eager training loop
to compare with. The whole step (forward, loss, backward, optimizer update) is one jitted function
of explicit state, called once per batch, as a JAX user writes it. As in the other runners the
training arrays are put on the job's device once when the session is built; each epoch's permutation
gather and split into batches happen on the device before the clock starts; the timed loop only
dispatches one step per batch (JAX's asynchronous dispatch: nothing is read back), summing the
batch-size-weighted loss on the device; the epoch's one read (which waits for the device) comes
before the clock stops. The last, smaller batch compiles a second time, in epoch 1, which is reported
apart; steady epochs never compile.

Tier "tuned" (schemas/tiers.py): the same step, STEPS_PER_EXECUTION of them per jitted call. Before
the clock the epoch's full batches are stacked into chunks of that many ([k, batch, ...],
runners/jax/chunks.py), and one jitted function runs a chunk with `lax.scan`, carrying the parameters,
statistics, optimizer state, dropout key and loss total and donating them (donate_argnums, whatever
the compile mode); the last partial batch goes through the one-batch step. Why: at batch 32 a small
network's step is short next to the host's dispatch of it, and 32 steps per dispatch remove most of
that, without changing any arithmetic or the order of the steps (the key is split once per step, as
in the loop). The scan also returns the loss total after each step, kept on the device, for
`first_steps_loss`. The full chunk and the smaller last one compile in epoch 1; steady epochs never
compile.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

# Threads, precision and the device are set in `build` (runners/jax/device.py), before JAX's first use.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402

from runners.datasets import Arrays  # noqa: E402
from runners.fairness import Split, check_shapes, layer_notes  # noqa: E402
from runners.jax.chunks import chunked, value_after  # noqa: E402
from runners.jax.device import configure, gpu_fields, pool_threads  # noqa: E402
from runners.jax.network import Network, check_layout, variables  # noqa: E402
from runners.jax.optim import optimizer  # noqa: E402
from schemas import layers as kinds  # noqa: E402
from schemas.common import FIRST_STEPS  # noqa: E402
from schemas.job import Adam, JobSpec  # noqa: E402
from schemas.tiers import STEPS_PER_EXECUTION, TUNED  # noqa: E402

# Rows per forward pass when evaluating a whole split (outside the clock).
EVAL_ROWS = 8192
_DROPOUT_STREAM = 0xD0D0  # salts the dropout key, as runners/fairness.py salts its streams
_NOTES = {
    "batch_norm": "batch_norm: flax.linen.BatchNorm, train mode with the batch's biased variance "
    "(use_fast_variance=False: mean of squared deviations); moving mean and variance updated as Keras "
    "does, momentum x old + (1 - momentum) x batch (biased variance)",
    "dropout": "dropout: flax.linen.Dropout, masks from jax.random.key(seed) folded with a salt, split "
    "once per step inside the jitted step",
}


class JaxSession:
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.device, self.applied = configure(spec)
        w = spec.workload
        self.model = model = Network(tuple(w.layers))
        given = variables(w, weights)
        check_layout(model, given, w.input_shape)
        put = lambda tree: jax.device_put(tree, self.device)  # noqa: E731
        self.params, self.stats = put(given["params"]), put(given["batch_stats"])
        self.tx = tx = optimizer(w.optimizer)
        # Committed to the job's device, as every step's outputs are: `jax.jit(tx.init)` leaves it
        # uncommitted, another signature to jax.jit, so the first full step compiled twice in epoch 1
        # (and, tuned, a full chunk again in epoch 2).
        self.opt_state = put(jax.jit(tx.init)(self.params))
        dropout = any(isinstance(layer, kinds.Dropout) and layer.rate > 0 for layer in w.layers)
        self.rng = put(jax.random.fold_in(jax.random.key(spec.seed), _DROPOUT_STREAM)) if dropout else None
        images = lambda x: x.reshape(len(x), *w.input_shape)  # noqa: E731  (a view: rows are (h, w, c))
        self.x, self.x_val = put(images(data.x_train)), put(images(data.x_val))
        y = data.y_train.astype(np.int32) if w.loss == "cross_entropy" else data.y_train
        self.y = put(y)
        self.first_steps_loss: tuple[int, float] | None = None
        self.gpu_uuid: str | None = None
        if spec.device.kind == "gpu":
            from runners.environment import nvidia_gpu_uuid

            self.gpu_uuid = nvidia_gpu_uuid(0)
        loss_name = w.loss

        def loss_of(out: jax.Array, target: jax.Array) -> jax.Array:
            check_shapes(out.shape, target.shape, loss_name)  # static shapes: checked while tracing
            if loss_name == "cross_entropy":
                return optax.softmax_cross_entropy_with_integer_labels(out, target).mean()
            return jnp.mean(jnp.square(out - target))

        def step(params, stats, opt_state, rng, total, xb, yb):  # type: ignore[no-untyped-def]
            rngs = {}
            if rng is not None:
                rng, rngs["dropout"] = jax.random.split(rng)

            def loss_fn(p):  # type: ignore[no-untyped-def]
                out, updated = model.apply({"params": p, "batch_stats": stats}, xb, train=True, rngs=rngs,
                                           mutable=["batch_stats"])  # fmt: skip
                return loss_of(out, yb), updated.get("batch_stats", stats)

            (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return params, stats, opt_state, rng, total + loss * xb.shape[0]

        # "jit": the step also donates its parameter, statistics and optimizer buffers (updated in
        # place); the loss total is not donated, since epoch 1 keeps its value after FIRST_STEPS.
        donate = (0, 1, 2, 3) if spec.compile == "jit" else ()
        self.step = jax.jit(step, donate_argnums=donate)
        self.steps = None
        if spec.tier == "tuned":

            def steps(params, stats, opt_state, rng, total, xs, ys):  # type: ignore[no-untyped-def]
                def body(carry, batch):  # type: ignore[no-untyped-def]
                    carry = step(*carry, *batch)
                    return carry, carry[4]  # the loss total after this step

                carry, totals = lax.scan(body, (params, stats, opt_state, rng, total), (xs, ys))
                return (*carry, totals)

            # A chunk's steps in one call, the carried state donated (the per-step totals are outputs).
            self.steps = jax.jit(steps, donate_argnums=(0, 1, 2, 3, 4))
        self.predict = jax.jit(lambda v, x: model.apply(v, x, train=False))
        self.encode = jax.jit(lambda v, x: model.apply(v, x, train=False, upto=w.code_layer))
        self.gather = jax.jit(lambda x, idx: jnp.take(x, idx, axis=0))
        # One batch of the gathered epoch: a jitted slice dispatches in a third of the time that
        # eager `x[i:j]` indexing takes (0.2 s against 0.3-0.5 s for Fashion-MNIST at batch 32),
        # and one XLA split into all batches takes minutes to compile (1,875 outputs).
        self.take = jax.jit(lax.dynamic_slice_in_dim, static_argnums=(2,))

    def _chunks(self, fn: Any, split: Split) -> np.ndarray:
        x = self.x if split == "train" else self.x_val
        v = {"params": self.params, "batch_stats": self.stats}
        out = [fn(v, x[i : i + EVAL_ROWS]) for i in range(0, int(x.shape[0]), EVAL_ROWS)]
        return np.asarray(jnp.concatenate(out), dtype=np.float32)

    def param_count(self) -> int:  # trainable only: batch_norm's moving statistics are not parameters
        return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(self.params)))

    def outputs(self, split: Split) -> np.ndarray:
        return self._chunks(self.predict, split)

    def codes(self, split: Split) -> np.ndarray:
        return self._chunks(self.encode, split)

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        if self.steps is not None:
            return self._train_chunks(perm)
        n, bs = len(perm), self.spec.workload.batch_size
        # Gathered and split into batches on the device before the clock starts.
        idx = jax.device_put(perm.astype(np.int32), self.device)
        x, y, take = self.gather(self.x, idx), self.gather(self.y, idx), self.take
        batches = [(take(x, i, min(bs, n - i)), take(y, i, min(bs, n - i))) for i in range(0, n, bs)]
        total = jax.device_put(np.zeros((), np.float32), self.device)
        params, stats, opt_state, rng = self.params, self.stats, self.opt_state, self.rng
        step = self.step
        # Parity evidence: the summed loss after the first FIRST_STEPS batches of epoch 1 (a device
        # array, kept without reading it).
        first_at = FIRST_STEPS - 1 if self.first_steps_loss is None else -1
        first = None
        jax.block_until_ready((batches, total, params, opt_state))
        start = time.perf_counter()
        for i, (xb, yb) in enumerate(batches):
            params, stats, opt_state, rng, total = step(params, stats, opt_state, rng, total, xb, yb)
            if i == first_at:
                first = total
        running = float(total) / n  # the epoch's one read: it waits for the device before the clock stops
        seconds = time.perf_counter() - start
        self.params, self.stats, self.opt_state, self.rng = params, stats, opt_state, rng
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, float(total if first is None else first) / seen)
        return seconds, running

    def _train_chunks(self, perm: np.ndarray) -> tuple[float, float]:
        """Tier "tuned": train_epoch with STEPS_PER_EXECUTION steps per jitted call (lax.scan)."""
        n, bs = len(perm), self.spec.workload.batch_size
        idx = jax.device_put(perm.astype(np.int32), self.device)
        chunks, rest = chunked((self.gather(self.x, idx), self.gather(self.y, idx)), bs, STEPS_PER_EXECUTION)
        total = jax.device_put(np.zeros((), np.float32), self.device)
        params, stats, opt_state, rng = self.params, self.stats, self.opt_state, self.rng
        steps, step = self.steps, self.step
        assert steps is not None
        keep = self.first_steps_loss is None  # epoch 1: each chunk's per-step totals, on the device
        totals = []
        jax.block_until_ready((chunks, rest, total, params, opt_state))
        start = time.perf_counter()
        for xs, ys in chunks:
            params, stats, opt_state, rng, total, per_step = steps(
                params, stats, opt_state, rng, total, xs, ys
            )
            if keep:
                totals.append(per_step)
        if rest is not None:
            params, stats, opt_state, rng, total = step(params, stats, opt_state, rng, total, *rest)
        running = float(total) / n  # the epoch's one read: it waits for the device before the clock stops
        seconds = time.perf_counter() - start
        self.params, self.stats, self.opt_state, self.rng = params, stats, opt_state, rng
        if keep:  # the total after batch FIRST_STEPS, as the loop's `first`
            first = value_after(totals, total if rest is not None else None, FIRST_STEPS - 1)
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, float(total if first is None else first) / seen)
        return seconds, running

    def memory_peak(self) -> tuple[int, str] | None:
        if self.spec.device.kind != "gpu":
            return None
        peak = (self.device.memory_stats() or {}).get("peak_bytes_in_use")
        return (int(peak), "jax Device.memory_stats()['peak_bytes_in_use']") if peak else None

    def is_oom(self, exc: BaseException) -> bool:
        return "RESOURCE_EXHAUSTED" in str(exc) or "out of memory" in str(exc).lower()

    def fingerprint(self) -> dict[str, Any]:
        hyper = {k: float(v) for k, v in self.opt_state.hyperparams.items()}  # read back from the state
        opt = self.spec.workload.optimizer
        if isinstance(opt, Adam):
            name = "optax.adam"
            hyper["eps"] = f"{opt.epsilon} / sqrt(1 - {hyper['b2']}^t)"  # the state holds the last step's
        else:
            name, hyper["nesterov"] = "optax.sgd", opt.nesterov
        precision = jax.config.jax_default_matmul_precision
        mode = "ieee" if precision in ("highest", "float32") else "tf32"
        jit, tuned = self.spec.compile == "jit", self.spec.tier == "tuned"
        return {
            "framework": "jax",
            "framework_version": f"jax {jax.__version__} / flax {flax.__version__} / optax {optax.__version__}",
            # XLA:CPU has no inter-op pool: one step runs at a time (each takes the last step's state).
            "threads": {"intra_op": pool_threads(), "inter_op": 1},
            "gpu": gpu_fields(self.device, self.gpu_uuid) if self.spec.device.kind == "gpu" else None,
            "optimizer": {"class": f"{name} (optax.inject_hyperparams)", **hyper},
            "loss": "optax.softmax_cross_entropy_with_integer_labels(...).mean() on logits"
            if self.spec.workload.loss == "cross_entropy"
            else "jnp.mean(jnp.square(outputs - targets))",
            "execution": (
                f"jax.jit of {STEPS_PER_EXECUTION} whole train steps (forward, loss, backward, optax update) "
                "per call (lax.scan over stacked batches), donating the carried parameter, statistics, "
                "optimizer, key and loss buffers (donate_argnums); the last partial batch in the one-step "
                "jax.jit" + (", which donates too" if jit else "")
                if tuned
                else "jax.jit of the whole train step (forward, loss, backward, optax update)"
                + (
                    ", donating its parameter, statistics and optimizer buffers (donate_argnums)"
                    if jit
                    else ""
                )
            ),
            "input_path": "device-resident tensors, gathered and split into batches per epoch before the "
            + (
                f"clock, stacked in chunks of {STEPS_PER_EXECUTION}; one jitted call per chunk "
                "(asynchronous dispatch)"
                if tuned
                else "clock; one jitted train step per batch (asynchronous dispatch)"
            ),
            "tuning": TUNED["jax"] if tuned else (),
            "host_syncs": {"per_step": 0, "per_epoch": 1},
            "tf32_applied": f"matmul {mode}, cudnn.conv {mode}",
            "notes": (
                f"threads: {', '.join(self.applied)} set before the backend started; intra_op read back as "
                "the XLA Eigen pool's threads; inter_op 1: XLA has no inter-op pool, steps run one at a time"
                + (
                    ""
                    if self.spec.threads.inter_op == 1
                    else f" (the spec's {self.spec.threads.inter_op} has nothing to set in JAX)"
                ),  # fmt: skip
                f"jax_default_matmul_precision={precision}",
            )
            + tuple(
                _NOTES[kind]
                for kind in sorted({layer.kind for layer in self.spec.workload.layers})
                if kind in _NOTES
            )
            + (
                (
                    "Adam: Optax adds epsilon after bias-correcting sqrt(v); Keras before: Optax's eps is "
                    "eps / sqrt(1 - beta_2^t) per step, the same update",
                )  # fmt: skip
                if isinstance(opt, Adam)
                else ()
            )
            + layer_notes(self.spec.workload),
        }


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> JaxSession:
    return JaxSession(spec, data, weights)
