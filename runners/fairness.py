"""What every runner shares so that only the framework differs (design rules 2, 3 and 4).

Initial weights and batch order come from numpy here, identically for every framework; the
evaluation maths (loss and metric on the full train and validation sets) is numpy in float64 on the
framework's float32 outputs, so no framework's metric implementation can tilt the comparison.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from schemas import layers
from schemas.common import write_bytes_atomic
from schemas.job import Workload

Split = Literal["train", "val"]  # what Session.outputs evaluates (runners/harness.py)

# Salts keep the weight and permutation streams independent for the same job seed.
_INIT_STREAM = 0x1417
_ORDER_STREAM = 0x0B0D
_DROPOUT_STREAM = 0xD0D0


def dropout_seed(seed: int, layer: int = 0) -> int:
    """The seed of a dropout layer's masks in the runners whose framework draws them from a seed it is
    given (Keras's layers, PyTorch's generator): fixed by the spec's seed, so the same spec gives
    the same masks in every run and each repeat its own (masks still differ between frameworks)."""
    return int(np.random.default_rng([seed, _DROPOUT_STREAM, layer]).integers(2**31 - 1))


def initial_weights(workload: Workload, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """One (kernel or gamma, bias or beta) pair per weighted layer, float32, in the canonical layout
    of schemas/layers.py: dense (in, out), conv2d (kh, kw, in, out), batch_norm gamma 1 and beta 0;
    biases zero. Glorot and He limits use the fan-in and fan-out both Keras and PyTorch use for a conv
    kernel: in or out channels times the kernel's area. Only kernels draw from the stream, in layer
    order, so an MLP's weights are what they were before other layer kinds existed."""
    rng = np.random.default_rng([seed, _INIT_STREAM])
    weights = []
    for kernel_shape, bias_shape in layers.weight_shapes(workload.layers, workload.input_shape):
        if len(kernel_shape) == 1:  # batch_norm: gamma, beta
            weights.append((np.ones(kernel_shape, np.float32), np.zeros(bias_shape, np.float32)))
            continue
        area = int(np.prod(kernel_shape[:-2]))  # 1 for a dense kernel
        fan_in, fan_out = kernel_shape[-2] * area, kernel_shape[-1] * area
        limit = (
            np.sqrt(6.0 / (fan_in + fan_out)) if workload.init == "glorot_uniform" else np.sqrt(6.0 / fan_in)
        )
        kernel = rng.uniform(-limit, limit, size=kernel_shape).astype(np.float32)
        weights.append((kernel, np.zeros(bias_shape, dtype=np.float32)))
    return weights


def layer_notes(workload: Workload) -> tuple[str, ...]:
    """What the frameworks do differently for this network's layers, for every runner's manifest."""
    notes = []
    if any(isinstance(layer, layers.BatchNorm) for layer in workload.layers):
        notes.append("batch_norm: Keras updates the moving variance with the batch's biased variance, "
                     "PyTorch with the unbiased one (x n/(n-1)): training steps agree, evaluation after "
                     "training differs by that factor")  # fmt: skip
    if any(isinstance(layer, layers.Dropout) and layer.rate > 0 for layer in workload.layers):
        notes.append("dropout: each framework draws its own masks, so losses are not expected to agree "
                     "step by step (parity is checked at rate 0)")  # fmt: skip
    return tuple(notes)


def permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The batch order of one epoch: the same indices in every runner."""
    return np.random.default_rng([seed, _ORDER_STREAM, epoch]).permutation(n)


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """An epoch's batches: full ones, then the smaller rest (what `fit` gives its steps, and every
    runner and hand loop steps over)."""
    return [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])


def sha256_arrays(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


class ShapeMismatch(ValueError):
    """Prediction and target shapes differ: a loss would broadcast instead of compare.

    The paper's PyTorch regression compared a (B, 1) prediction with a (B,) target, silently
    broadcasting to (B, B); every loss in this project refuses that loudly."""


def check_shapes(pred_shape: tuple[int, ...], target_shape: tuple[int, ...], loss: str) -> None:
    if loss == "cross_entropy":
        ok = len(pred_shape) == 2 and tuple(target_shape) == (pred_shape[0],)
    else:
        ok = tuple(pred_shape) == tuple(target_shape)
    if not ok:
        raise ShapeMismatch(
            f"{loss}: prediction shape {tuple(pred_shape)} does not fit target shape {tuple(target_shape)}"
        )


def evaluate(outputs: np.ndarray, targets: np.ndarray, loss: str) -> tuple[float, float]:
    """(loss, metric) over a whole split: cross-entropy + accuracy, or MSE + MSE."""
    check_shapes(outputs.shape, targets.shape, loss)
    out = outputs.astype(np.float64)
    if loss == "cross_entropy":
        peak = out.max(axis=1)
        shifted = out - peak[:, None]
        np.exp(shifted, out=shifted)  # in place: a quarter less time per call (it runs 41 times a job)
        log_norm = np.log(shifted.sum(axis=1)) + peak
        ce = float(np.mean(log_norm - np.take_along_axis(out, targets[:, None], axis=1)[:, 0]))
        acc = float(np.mean(out.argmax(axis=1) == targets))
        return ce, acc
    mse = float(np.mean((out - targets.astype(np.float64)) ** 2))
    return mse, mse


# Prepared once per run directory (design rules 2 and 3): weights and every epoch's batch order in one
# file per (network, data size, epochs, seed), written by the orchestrator and loaded by every runner.
# A runner started alone, without the file, generates the same values with the functions above.


def init_key(workload: Workload, n_features: int, n_train: int, seed: int) -> str:
    dumped = [layer.model_dump(mode="json") for layer in workload.layers]
    payload: dict[str, Any] = {"layers": dumped, "init": workload.init, "n_features": n_features,
                               "n_train": n_train, "epochs": workload.epochs, "seed": seed}  # fmt: skip
    if workload.input_shape[1:]:  # an image network: the image's shape too (MLP keys stay as they were)
        payload["input_shape"] = list(workload.input_shape)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def init_path(data_dir: Path, workload: Workload, n_features: int, n_train: int, seed: int) -> Path:
    return data_dir / "init" / f"{init_key(workload, n_features, n_train, seed)}.npz"


def write_init(path: Path, workload: Workload, n_features: int, n_train: int, seed: int) -> None:
    weights = initial_weights(workload, seed)
    order = np.stack([permutation(n_train, seed, e) for e in range(1, workload.epochs + 1)]).astype(np.int32)
    arrays: dict[str, Any] = {"order": order}
    arrays.update({f"kernel_{i}": k for i, (k, _) in enumerate(weights)})
    arrays.update({f"bias_{i}": b for i, (_, b) in enumerate(weights)})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_init(path: Path, n_weighted: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """`n_weighted`: the network's weighted layers (layers.WEIGHTED), one pair each."""
    with np.load(path, allow_pickle=False) as npz:
        weights = [(npz[f"kernel_{i}"], npz[f"bias_{i}"]) for i in range(n_weighted)]
        return weights, npz["order"]
