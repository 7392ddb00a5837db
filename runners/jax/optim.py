"""The spec's optimizer as Optax's own transformation, with Keras's maths (fairness rule 4)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax

from schemas.job import Adam


def optimizer(opt: Any) -> optax.GradientTransformation:
    """Optax's own Adam and SGD, hyperparameters injected so that they can be read back.

    Adam: Keras divides by sqrt(v) + eps and folds the bias correction into the step size; Optax
    divides by sqrt(v) / sqrt(1 - beta_2^t) + eps. The updates are identical when Optax's eps at step
    t is eps / sqrt(1 - beta_2^t), so eps is a schedule of the step count (as runners/pytorch feeds
    PyTorch's Adam). SGD: Optax's trace (t = g + momentum t; nesterov: g + momentum t) times -lr is
    Keras's m = momentum m - lr g (nesterov: momentum m - lr g) with m = -lr t at a constant lr."""
    if isinstance(opt, Adam):
        eps, beta_2 = opt.epsilon, opt.beta_2
        return optax.inject_hyperparams(optax.adam)(
            learning_rate=opt.learning_rate, b1=opt.beta_1, b2=beta_2,
            eps=lambda count: eps / jnp.sqrt(1.0 - beta_2 ** (count + 1.0)),  # count: steps before this
        )  # fmt: skip
    return optax.inject_hyperparams(optax.sgd, static_args=("nesterov",))(
        learning_rate=opt.learning_rate, momentum=opt.momentum, nesterov=opt.nesterov
    )
