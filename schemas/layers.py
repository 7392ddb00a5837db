"""Layer kinds of a network, and what a layer list does to a dataset's input: shapes, parameters, work.

One canonical layout, the one every runner converts from (runners/fairness.py makes the weights):
  - activations are channels-last (h, w, c), so `flatten` orders features (h, w, c);
  - a dense kernel is (in, out), a conv2d kernel (kh, kw, in, out) (Keras's HWIO), biases (out,);
  - batch_norm has (gamma, beta); its moving mean and variance start at 0 and 1 in every framework.
A PyTorch runner transposes kernels to (out, in, kh, kw) and reorders the rows of a dense kernel
that follows `flatten` from (h, w, c) to its own (c, h, w), so both frameworks compute one function.

Where the network starts: a network whose first layer is conv2d or max_pool2d sees the dataset's
image shape (e.g. 28x28x1); any other network its flat features (784), as every MLP always has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

MAX_UNITS = 65_536
MAX_KERNEL = 64

Activation = Literal["relu", "tanh", "sigmoid", "linear"]
Shape = tuple[int, ...]


class Strict(BaseModel):
    """Base of every contract model: immutable, unknown fields rejected, no silent coercion of
    strings into numbers. Each model's validator is built the first time it is used, not at import:
    a runner process uses a few of them, and building all of them was ~40 ms of every job's start-up.
    (pydantic >= 2.14: earlier 2.x could race on a first build from two threads, as the local
    executor's lanes are.)"""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class Dense(Strict):
    kind: Literal["dense"] = "dense"
    units: int = Field(ge=1, le=MAX_UNITS)
    activation: Activation


class Conv2D(Strict):
    kind: Literal["conv2d"]
    filters: int = Field(ge=1, le=MAX_UNITS)
    kernel: int = Field(ge=1, le=MAX_KERNEL, description="square kernel side")
    stride: int = Field(default=1, ge=1, le=MAX_KERNEL)
    # "same": output side ceil(in / stride), zero padding split as TensorFlow splits it (the extra
    # row/column at the bottom/right); "valid": no padding.
    padding: Literal["same", "valid"]
    activation: Activation
    # False before a batch_norm, as practitioners write it: there the normalisation cancels a bias,
    # its gradient is float32 round-off, and Adam (which divides by the gradient's own scale) turns
    # that round-off into full-size steps whose signs each framework's rounding picks -- measured,
    # epoch-1 losses 1.3e-3 apart on a conv -> batch_norm net with a bias, 1e-6 without.
    bias: bool = True


class MaxPool2D(Strict):
    kind: Literal["max_pool2d"]
    pool: int = Field(ge=1, le=MAX_KERNEL, description="square window side")
    stride: int | None = Field(default=None, ge=1, le=MAX_KERNEL, description="None: the window side")

    @property
    def step(self) -> int:
        return self.stride or self.pool


class Flatten(Strict):
    kind: Literal["flatten"]


class BatchNorm(Strict):
    """Normalises over the batch (and the spatial positions of an image), per feature or channel.

    `momentum` is the weight of the old moving average in each update (Keras's convention, 0.99 its
    default): PyTorch's `momentum` is the weight of the new batch, so it gets 1 - momentum. Both
    spelled out because the frameworks' defaults differ (Keras 0.99 / 1e-3, PyTorch 0.9 / 1e-5)."""

    kind: Literal["batch_norm"]
    momentum: float = Field(ge=0, lt=1, allow_inf_nan=False)
    epsilon: float = Field(gt=0, le=1, allow_inf_nan=False)


class Dropout(Strict):
    """Each framework draws its own masks: with rate > 0 the runs stop being the same computation, so
    parity is checked at rate 0 and the parity table says when it cannot be checked."""

    kind: Literal["dropout"]
    rate: float = Field(ge=0, lt=1, allow_inf_nan=False)


def _kind(value: Any) -> str:
    # A layer written without `kind` is dense: every suite and spec from before the other kinds.
    if isinstance(value, dict):
        return str(value.get("kind", "dense"))
    return str(getattr(value, "kind", "dense"))


Layer = Annotated[
    Annotated[Dense, Tag("dense")]
    | Annotated[Conv2D, Tag("conv2d")]
    | Annotated[MaxPool2D, Tag("max_pool2d")]
    | Annotated[Flatten, Tag("flatten")]
    | Annotated[BatchNorm, Tag("batch_norm")]
    | Annotated[Dropout, Tag("dropout")],
    Discriminator(_kind),
]

KINDS = frozenset({"dense", "conv2d", "max_pool2d", "flatten", "batch_norm", "dropout"})
IMAGE_FIRST = (Conv2D, MaxPool2D)  # a network starting with one of these sees the image shape
WEIGHTED = (Dense, Conv2D, BatchNorm)  # the layers with a (kernel or gamma, bias or beta) pair


class ShapeError(ValueError):
    """A layer cannot take its input: `index` names the layer, the message says why and the fix."""

    def __init__(self, index: int, message: str, field: str = ""):
        super().__init__(message)
        self.index, self.field = index, field


def input_shape(layers: Sequence[Any], image: Shape | None, n_features: int) -> Shape:
    """What the first layer sees (see the module's docstring)."""
    if isinstance(layers[0], IMAGE_FIRST):
        if image is None:
            raise ShapeError(0, f"needs an image dataset (height, width, channels); this one has {n_features} "
                             "flat features: use dense layers, or an image dataset such as fashion-mnist")  # fmt: skip
        return image
    return (n_features,)


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of one side: (before, after), the odd one extra after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_pads(layer: Conv2D, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zero padding of a conv2d on a height x width input."""
    if layer.padding == "valid":
        return (0, 0, 0, 0)
    return (*_same_pads(height, layer.kernel, layer.stride), *_same_pads(width, layer.kernel, layer.stride))


def output_shape(layer: Any, shape: Shape, index: int) -> Shape:
    """The shape one layer gives for `shape` (channels-last), or ShapeError."""
    if isinstance(layer, Dense):
        if len(shape) != 1:
            raise ShapeError(index, f"dense needs a flat input but gets {_dims(shape)}: put a flatten "
                             "layer before it")  # fmt: skip
        return (layer.units,)
    if isinstance(layer, Flatten):
        return (math.prod(shape),)
    if isinstance(layer, (BatchNorm, Dropout)):
        return shape
    if len(shape) != 3:
        raise ShapeError(index, f"{layer.kind} needs an image input (height, width, channels) but gets "
                         f"{_dims(shape)}")  # fmt: skip
    h, w, c = shape
    if isinstance(layer, Conv2D):
        top, bottom, left, right = conv_pads(layer, h, w)
        oh = (h + top + bottom - layer.kernel) // layer.stride + 1
        ow = (w + left + right - layer.kernel) // layer.stride + 1
        if oh < 1 or ow < 1:
            raise ShapeError(index, f"a {layer.kernel}x{layer.kernel} kernel does not fit a {h}x{w} input "
                             "with padding 'valid'", "kernel")  # fmt: skip
        return (oh, ow, layer.filters)
    assert isinstance(layer, MaxPool2D)
    if layer.pool > min(h, w):
        raise ShapeError(index, f"a {layer.pool}x{layer.pool} window does not fit a {h}x{w} input", "pool")
    return ((h - layer.pool) // layer.step + 1, (w - layer.pool) // layer.step + 1, c)


def shapes(layers: Sequence[Any], first: Shape) -> list[Shape]:
    """Each layer's input shape, then the network's output shape (len(layers) + 1 entries)."""
    out = [first]
    for i, layer in enumerate(layers):
        out.append(output_shape(layer, out[-1], i))
    return out


def weight_shapes(layers: Sequence[Any], first: Shape) -> list[tuple[Shape, Shape]]:
    """(kernel or gamma, bias or beta) shapes of each weighted layer, in the canonical layout."""
    ins = shapes(layers, first)
    pairs: list[tuple[Shape, Shape]] = []
    for layer, shape in zip(layers, ins, strict=False):
        if isinstance(layer, Dense):
            pairs.append(((shape[0], layer.units), (layer.units,)))
        elif isinstance(layer, Conv2D):
            pairs.append(((layer.kernel, layer.kernel, shape[-1], layer.filters), (layer.filters,)))
        elif isinstance(layer, BatchNorm):
            pairs.append(((shape[-1],), (shape[-1],)))
    return pairs


def forward_flops(layers: Sequence[Any], first: Shape) -> float:
    """Multiply-add work of one sample's forward pass through the dense and conv layers (2 FLOPs per
    multiply-add); a training step is about 3x this (forward, input gradients, weight gradients)."""
    total = 0.0
    ins = shapes(layers, first)
    for layer, shape, out in zip(layers, ins, ins[1:], strict=False):
        if isinstance(layer, Dense):
            total += 2.0 * shape[0] * layer.units
        elif isinstance(layer, Conv2D):
            total += 2.0 * math.prod(out) * layer.kernel * layer.kernel * shape[-1]
    return total


def _dims(shape: Shape) -> str:
    return "x".join(map(str, shape)) if len(shape) > 1 else f"{shape[0]} features"
