"""PyTorch: "eager", the plain loop; "compiled", torch.compile of the whole step (forward, loss,
backward, optimizer update), PyTorch's documented way to remove per-op overhead."""

from __future__ import annotations

import math
import time
from typing import Any

from loops.common import BETA_1, BETA_2, EPSILON, IMAGE, LR, N_FEATURES, permutation


def torch_model(model: str) -> Any:
    from torch import nn

    if model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )  # fmt: skip
    return nn.Sequential(
        nn.Linear(N_FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
    )


def loop(
    data: dict, epochs: int, bs: int, threads: int, compiled: bool, model_name: str = "mlp"
) -> tuple[list[float], float]:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    shape = (1, *IMAGE) if model_name == "cnn" else (N_FEATURES,)
    x, y = torch.from_numpy(data["x_train"]).reshape(-1, *shape), torch.from_numpy(data["y_train"])
    model = torch_model(model_name)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA_1, BETA_2), eps=EPSILON)
    group = opt.param_groups[0]
    loss_fn = torch.nn.CrossEntropyLoss()
    t = 0

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()

    if compiled:
        # A Python float that changes every step would recompile the compiled step every step, so
        # the compiled loop keeps PyTorch's epsilon placement (one elementwise add either way; the
        # runner's compiled step runs Keras's update as tensor ops instead, runners/pytorch/optim.py).
        run_step = torch.compile(step)
    else:

        def run_step(xb: torch.Tensor, yb: torch.Tensor) -> None:
            nonlocal t
            t += 1  # Keras's epsilon placement, as the runner feeds it (runners/pytorch/optim.py)
            group["eps"] = EPSILON / math.sqrt(1.0 - BETA_2**t)
            step(xb, yb)

    times = []
    for epoch in range(1, epochs + 1):
        perm = torch.from_numpy(permutation(len(x), epoch))
        xs, ys = x[perm], y[perm]
        start = time.perf_counter()
        for xb, yb in zip(xs.split(bs), ys.split(bs), strict=False):
            run_step(xb, yb)
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        acc = (
            model(torch.from_numpy(data["x_val"]).reshape(-1, *shape)).argmax(1).numpy() == data["y_val"]
        ).mean()
    return times, float(acc)
