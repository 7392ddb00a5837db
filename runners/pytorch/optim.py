"""The spec's optimizer in PyTorch with Keras's maths, and the training step built around it.

Two ways, one update:
  - compile "none": torch.optim.Adam / SGD, PyTorch's standard optimizers, with Adam's epsilon fed
    step by step so that it lands where Keras puts it (KerasEpsilon);
  - compile "jit": the whole step (forward, loss, backward, update) goes through torch.compile, and
    a Python float that changes every step (that epsilon) would make it recompile every step. So
    Adam is KerasAdam there: Keras's own update written as tensor ops, the step count a tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from schemas.job import Adam, JobSpec


class KerasEpsilon:
    """Adam's epsilon as Keras applies it, fed to PyTorch's Adam step by step.

    Keras divides by sqrt(v) + eps and folds the bias correction into the step size; PyTorch divides
    by sqrt(v) / sqrt(1 - beta_2^t) + eps. The two updates are identical when PyTorch's eps at step t
    is eps / sqrt(1 - beta_2^t) (one float per step). Without this, Keras's effective epsilon is ~30x
    larger in the first steps and epoch-1 losses drift apart by ~1e-3 on 2,000 MNIST digits.
    """

    def __init__(self, opt: Adam):
        self.eps, self.beta_2, self.t = opt.epsilon, opt.beta_2, 0

    def next(self) -> float:
        self.t += 1
        return self.eps / math.sqrt(1.0 - self.beta_2**self.t)


class KerasAdam:
    """keras.optimizers.Adam's update, line for line (keras/src/optimizers/adam.py), in PyTorch ops:
    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t); m += (g - m)(1 - beta_1);
    v += (g^2 - v)(1 - beta_2); w -= alpha * m / (sqrt(v) + eps), with t a float32 device tensor."""

    def __init__(self, params: Iterable[nn.Parameter], opt: Adam, device: torch.device):
        self.params = list(params)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros((), device=device)
        self.lr, self.beta_1, self.beta_2, self.eps = opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t.add_(1.0)
        alpha = self.lr * torch.sqrt(1.0 - self.beta_2**self.t) / (1.0 - self.beta_1**self.t)
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            g = p.grad
            if g is None:
                continue
            m.add_((g - m) * (1.0 - self.beta_1))
            v.add_((g * g - v) * (1.0 - self.beta_2))
            p.sub_(m * alpha / (v.sqrt() + self.eps))


Optimizer = torch.optim.Optimizer | KerasAdam


def build(
    spec: JobSpec, params: Iterable[nn.Parameter], device: torch.device
) -> tuple[Optimizer, KerasEpsilon | None]:
    """The optimizer, and the epsilon feed torch.optim.Adam needs (None where none is needed)."""
    opt = spec.workload.optimizer
    if isinstance(opt, Adam) and spec.compile == "jit":
        return KerasAdam(params, opt, device), None
    if isinstance(opt, Adam):
        adam = torch.optim.Adam(params, lr=opt.learning_rate, betas=(opt.beta_1, opt.beta_2), eps=opt.epsilon)
        return adam, KerasEpsilon(opt)
    return torch.optim.SGD(params, lr=opt.learning_rate, momentum=opt.momentum, nesterov=opt.nesterov), None


def train_step(
    model: nn.Module, opt: Optimizer, loss_fn: nn.Module, feed: KerasEpsilon | None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """One batch: zero the gradients, forward, loss, backward, update; the loss stays on the device."""
    group = opt.param_groups[0] if feed is not None and not isinstance(opt, KerasAdam) else None

    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if feed is not None and group is not None:
            group["eps"] = feed.next()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def describe(opt: Optimizer, feed: KerasEpsilon | None) -> dict[str, Any]:
    """The optimizer's settings as applied (the fairness manifest's `optimizer`)."""
    if isinstance(opt, KerasAdam):
        return {"class": "KerasAdam (Keras's Adam update in PyTorch tensor ops)", "lr": opt.lr,
                "betas": (opt.beta_1, opt.beta_2), "eps": opt.eps}  # fmt: skip
    group = opt.param_groups[0]
    applied = {
        k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float, bool, tuple, str))
    }
    if feed is not None:  # the group holds only the latest step's value
        applied["eps"] = f"{feed.eps} / sqrt(1 - {feed.beta_2}^t)"
    return {"class": type(opt).__name__, **applied}
