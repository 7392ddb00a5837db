"""The spec's layer list as a PyTorch module, carrying the shared numpy weights.

The weights come in the canonical layout of schemas/layers.py (channels-last, Keras's kernels);
PyTorch computes channels-first. Converted here, once, outside any clock:
  - a dense kernel (in, out) becomes nn.Linear's (out, in); a conv2d kernel (kh, kw, in, out) becomes
    nn.Conv2d's (out, in, kh, kw) (KERNEL_AXES);
  - nn.Flatten orders an image's features (c, h, w) where the canonical order is (h, w, c), so the rows
    of the next dense kernel (and any per-feature batch_norm weights between) are reordered to match:
    the network computes the same function with no transpose of activations in its timed steps;
  - "same" padding is TensorFlow's, which puts the odd row and column after the image: symmetric
    cases use the convolution's own padding, others an explicit nn.ZeroPad2d before it;
  - batch_norm's momentum is the weight of the old moving average (Keras's convention); PyTorch's
    momentum weighs the new batch, so it gets 1 - momentum.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from schemas import layers as kinds
from schemas.job import Workload

# Canonical conv kernel (kh, kw, in, out) -> PyTorch's (out, in, kh, kw).
KERNEL_AXES = (3, 2, 0, 1)

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def chw_order(shape: tuple[int, ...]) -> np.ndarray:
    """For each feature PyTorch's flatten gives (c, h, w order), its index in the canonical (h, w, c)
    flattening of the same image."""
    h, w, c = shape
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


def to_channels_last(x: np.ndarray, image: tuple[int, ...]) -> torch.Tensor:
    """Flat rows of (h, w, c) images as (n, c, h, w) with channels-last strides, the layout the
    tuned tier runs convolutions in (PyTorch's performance guide: channels_last for conv nets): a
    view of the rows as they are, no copy; with one channel its strides still say channels-last."""
    h, w, c = image
    return torch.from_numpy(x).reshape(len(x), h, w, c).permute(0, 3, 1, 2)


def to_channels_first(x: np.ndarray, image: tuple[int, ...]) -> torch.Tensor:
    """Flat rows of (h, w, c) images as an (n, c, h, w) tensor in PyTorch's default memory format.

    Copied into a fresh tensor rather than `.contiguous()`: with one channel the permuted view
    already counts as contiguous, but keeps channels-last strides, and convolutions then propagate
    the channels-last format, a different oneDNN path (LeNet-5 steady epoch on a 2-vCPU EPYC: 5.3 s
    with it, 5.8 s without, two sittings of benchmarks/perf.py --model cnn) -- a tuning choice, not
    PyTorch's standard execution, which the hand loop it is held against uses."""
    h, w, c = image
    t = torch.from_numpy(x).reshape(len(x), h, w, c).permute(0, 3, 1, 2)
    return torch.empty((len(x), c, h, w), dtype=t.dtype).copy_(t)


def _copy(param: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _activation(name: str) -> list[nn.Module]:
    return [] if name == "linear" else [_ACTIVATIONS[name]()]


def build_network(
    workload: Workload, weights: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[nn.Sequential, list[int]]:
    """The module, and for each spec layer the number of modules up to its end (activation included):
    `model[:ends[i]]` is the network up to layer i (an autoencoder's code)."""
    pairs: Iterator[tuple[np.ndarray, np.ndarray]] = iter(weights)
    ins = kinds.shapes(workload.layers, workload.input_shape)
    order: np.ndarray | None = None  # set while the features are a flattened image in (c, h, w) order
    modules: list[nn.Module] = []
    ends: list[int] = []
    for layer, shape in zip(workload.layers, ins, strict=False):
        if isinstance(layer, kinds.Dense):
            kernel, bias = next(pairs)
            linear = nn.Linear(kernel.shape[0], kernel.shape[1])
            _copy(linear.weight, (kernel if order is None else kernel[order]).T)
            _copy(linear.bias, bias)
            modules += [linear, *_activation(layer.activation)]
            order = None
        elif isinstance(layer, kinds.Conv2D):
            kernel, bias = next(pairs)
            top, bottom, left, right = kinds.conv_pads(layer, shape[0], shape[1])
            symmetric = top == bottom and left == right
            if not symmetric:
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
            conv = nn.Conv2d(shape[-1], layer.filters, layer.kernel, layer.stride,
                             padding=(top, left) if symmetric else 0, bias=layer.bias)  # fmt: skip
            _copy(conv.weight, kernel.transpose(KERNEL_AXES))
            if layer.bias:
                _copy(conv.bias, bias)
            modules += [conv, *_activation(layer.activation)]
        elif isinstance(layer, kinds.MaxPool2D):
            modules.append(nn.MaxPool2d(layer.pool, layer.step))
        elif isinstance(layer, kinds.Flatten):
            modules.append(nn.Flatten())
            if len(shape) == 3:
                order = chw_order(shape)
        elif isinstance(layer, kinds.BatchNorm):
            gamma, beta = next(pairs)
            norm_class = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            norm = norm_class(shape[-1], eps=layer.epsilon, momentum=1.0 - layer.momentum)
            _copy(norm.weight, gamma if order is None else gamma[order])
            _copy(norm.bias, beta if order is None else beta[order])
            modules.append(norm)
        elif isinstance(layer, kinds.Dropout):
            modules.append(nn.Dropout(layer.rate))
        ends.append(len(modules))
    return nn.Sequential(*modules), ends
