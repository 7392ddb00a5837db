"""Tier "tuned" (schemas/tiers.py) for the JAX runners: an epoch's batches stacked into chunks, each
run by one `lax.scan` in one jitted call. JAX only (no Flax, no Keras): the jax and keras-jax
runners both import it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jax


def chunked(
    arrays: tuple[jax.Array, ...], batch_size: int, steps: int
) -> tuple[list[tuple[jax.Array, ...]], tuple[jax.Array, ...] | None]:
    """An epoch's gathered arrays (rows in the epoch's order) as chunks of `steps` full batches,
    each array shaped [k, batch_size, ...] (k = steps, the last chunk's k may be smaller), and the
    last partial batch (None when batch_size divides the rows): the same batches, in the same order,
    as slicing the rows batch by batch. On the arrays' device; run before the clock."""
    n = int(arrays[0].shape[0])
    full = n // batch_size
    stacked = [a[: full * batch_size].reshape(full, batch_size, *a.shape[1:]) for a in arrays]
    chunks = [tuple(s[i : i + steps] for s in stacked) for i in range(0, full, steps)]
    rest = tuple(a[full * batch_size :] for a in arrays) if n % batch_size else None
    return chunks, rest


def value_after(per_chunk: list[jax.Array], rest_value: jax.Array | None, step: int) -> jax.Array | None:
    """The per-step value (loss total, running loss) after step `step` (0-based) of an epoch run in
    chunks, from each chunk's per-step values and the partial batch's value (None without one);
    None when the epoch has fewer steps. The parity probe's read, after the clock."""
    import jax.numpy as jnp

    after = jnp.concatenate([*per_chunk, *([rest_value[None]] if rest_value is not None else [])])
    return after[step] if len(after) > step else None
