"""Tuning tiers: how hard each framework is pushed for speed, within the same maths.

"matched" is the fairness rule every arm had before tiers existed: identical maths, each framework's
standard execution (Keras's tf.function step, PyTorch eager, one jitted JAX step per batch).
"tuned" adds, on top of the arm's compile mode, what the framework itself documents as its way to
train small models fast *without changing the arithmetic*: never mixed precision, never another
optimizer or loss. The one list of what "tuned" may add per framework is `TUNED` below: the runner
applies what fits the job and reads back what it applied (its fingerprint's `tuning`, in every
report's fairness manifest), and docs/arms.md shows the same list. A tuned arm has its own label
(`pytorch+jit:tuned`), spec ids and history, so it is never pooled with a matched one.
"""

from __future__ import annotations

from typing import Literal

Tier = Literal["matched", "tuned"]

# Training steps per host dispatch in the tuned tier: Keras's `steps_per_execution`, and the same
# number of steps in one `lax.scan` for JAX. 32 follows Keras's guidance for small models ("a
# larger value ... reduces Python overhead"); one epoch of Fashion-MNIST at batch 32 is 58 calls
# instead of 1,875. Epoch loss and the first FIRST_STEPS batches are still read per step.
STEPS_PER_EXECUTION = 32

# What tier "tuned" adds per framework (the runner reads back which of these applied to a job). A
# framework not listed offers nothing: its tuned jobs run as matched, and their reports say so.
TUNED: dict[str, tuple[str, ...]] = {
    "tensorflow": (
        f"steps_per_execution={STEPS_PER_EXECUTION}: that many Keras train_steps per tf.function call "
        "(a tf.range loop; with compile 'jit' the whole loop is one XLA cluster)",
    ),
    # Keras's own steps_per_execution on JAX calls its jitted step in a Python loop (no fewer
    # dispatches), so the tuned tier applies JAX's idiom, lax.scan, to Keras's stateless train_step.
    "keras-jax": (
        f"{STEPS_PER_EXECUTION} Keras stateless train_steps per jax.jit call (lax.scan over stacked "
        "batches), state donated",
    ),
    "jax": (
        f"{STEPS_PER_EXECUTION} train steps per jax.jit call (lax.scan over stacked batches)",
        "parameter, statistics and optimizer buffers donated (donate_argnums)",
    ),
    # The whole compiled step is already compile "jit" (its tuned arm is pytorch+jit:tuned). Measured
    # and left out: torch.compile(mode="max-autotune-no-cudagraphs") on the CPU (784-128-128-10,
    # batch 128, 20,000 rows: steady epoch 0.197 s against the default mode's 0.199 s, 19.1 s of
    # compilation against 14.9 s); CUDA graphs ("reduce-overhead") wait for a GPU to be proven on.
    "pytorch": ("conv nets: channels_last memory format for the model and its inputs",),
    # Keras's torch backend refuses steps_per_execution > 1 and documents no other speed switch within
    # the same maths: its tuned arm runs as its matched one and says so.
    "keras-torch": (),
    "fake": ("steps_per_execution (simulated: a steady epoch takes 0.9 of the matched one's time)",),
}


def tier_suffix(tier: str) -> str:
    """The part of an arm's label that names its tier: nothing for "matched" (every label from before
    tiers stays as it was), ':tuned' for "tuned"."""
    return "" if tier == "matched" else f":{tier}"
