"""PyTorch plug-in: idiomatic eager training on in-memory tensors.

Choice: a plain loop over slices of tensors that already live on the device. The data is in memory,
so a DataLoader would only add per-sample Python collation (the harness would be measured, not
PyTorch). The epoch's permutation gather happens before the clock starts, as in the Keras runner.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from runners.datasets import Arrays
from schemas.common import FIRST_STEPS
from schemas.job import Adam, JobSpec

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _configure(spec: JobSpec) -> torch.device:
    torch.set_num_threads(spec.threads.intra_op)
    torch.set_num_interop_threads(spec.threads.inter_op)
    # Full float32 matmuls unless the spec asks for TF32 (the same switch is set in Keras).
    torch.backends.cuda.matmul.allow_tf32 = spec.tf32
    torch.backends.cudnn.allow_tf32 = spec.tf32
    torch.set_float32_matmul_precision("high" if spec.tf32 else "highest")
    if spec.device.kind == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("spec asks for a GPU but torch.cuda.is_available() is False")
        return torch.device("cuda:0")  # the backend narrows CUDA_VISIBLE_DEVICES to the job's GPUs
    return torch.device("cpu")


def _network(spec: JobSpec, weights: list[tuple[np.ndarray, np.ndarray]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for layer, (kernel, bias) in zip(spec.workload.layers, weights, strict=False):
        linear = nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():  # shared numpy init; Keras stores (in, out), torch (out, in)
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias))
        layers.append(linear)
        if layer.activation != "linear":
            layers.append(_ACTIVATIONS[layer.activation]())
    return nn.Sequential(*layers)


class _KerasEpsilon:
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


class TorchSession:
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.device = _configure(spec)
        self.model = _network(spec, weights).to(self.device)
        self.step_model = torch.compile(self.model) if spec.compile == "jit" else self.model
        opt = spec.workload.optimizer
        if isinstance(opt, Adam):
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.model.parameters(), lr=opt.learning_rate, betas=(opt.beta_1, opt.beta_2), eps=opt.epsilon
            )
        else:
            self.optimizer = torch.optim.SGD(
                self.model.parameters(), lr=opt.learning_rate, momentum=opt.momentum, nesterov=opt.nesterov
            )
        self.adam_eps = _KerasEpsilon(opt) if isinstance(opt, Adam) else None
        self.first_steps_loss: tuple[int, float] | None = None
        self.loss_fn = nn.CrossEntropyLoss() if spec.workload.loss == "cross_entropy" else nn.MSELoss()
        self.x = torch.from_numpy(data.x_train).to(self.device)
        self.y = torch.from_numpy(data.y_train).to(self.device)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def param_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.inference_mode():
            out = self.model(torch.from_numpy(x).to(self.device))
        return out.cpu().numpy()

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        idx = torch.from_numpy(perm).to(self.device)
        xs, ys = self.x[idx], self.y[idx]  # gathered before the clock starts
        n, bs = len(xs), self.spec.workload.batch_size
        model, opt, loss_fn = self.step_model, self.optimizer, self.loss_fn
        self.model.train()
        total = torch.zeros((), device=self.device)
        # Parity evidence: the mean loss of the first FIRST_STEPS batches, before float32 rounding
        # differences between frameworks have had many steps to grow (snapshot on device, no sync).
        first_at = (FIRST_STEPS - 1) * bs if self.first_steps_loss is None else -1
        first = None
        self._sync()
        start = time.perf_counter()
        group, adam_eps = opt.param_groups[0], self.adam_eps
        for i in range(0, n, bs):
            xb, yb = xs[i : i + bs], ys[i : i + bs]
            if adam_eps is not None:
                group["eps"] = adam_eps.next()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach() * len(xb)  # stays on device: no sync per step
            if i == first_at:
                first = total.clone()
        running = (total / n).item()  # synchronises the device before the clock is read
        seconds = time.perf_counter() - start
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, float(((total if first is None else first) / seen).item()))
        return seconds, running

    def is_oom(self, exc: BaseException) -> bool:
        # CUDA raises OutOfMemoryError; the CPU allocator a RuntimeError "can't allocate memory".
        text = str(exc).lower()
        return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "allocate memory" in text

    def fingerprint(self) -> dict[str, Any]:
        group = self.optimizer.param_groups[0]
        applied = {
            k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float, bool, tuple, str))
        }
        if self.adam_eps is not None:  # the group holds only the latest step's value
            applied["eps"] = f"{self.adam_eps.eps} / sqrt(1 - {self.adam_eps.beta_2}^t)"
        gpu = None
        if self.device.type == "cuda":
            from runners.environment import nvidia_driver, nvidia_gpu_uuid

            # The device CUDA itself ran on (str: "xxxxxxxx-..."); nvidia-smi as a fallback.
            uuid = str(getattr(torch.cuda.get_device_properties(self.device), "uuid", "") or "")
            gpu = {
                "name": torch.cuda.get_device_name(self.device),
                "driver": nvidia_driver(),
                "cuda": torch.version.cuda,
                "gpu_uuid": (uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")
                if uuid
                else nvidia_gpu_uuid(0),
            }
        return {
            "framework": "pytorch",
            "framework_version": torch.__version__,
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            "gpu": gpu,
            "optimizer": {"class": type(self.optimizer).__name__, **applied},
            "loss": f"torch.nn.{type(self.loss_fn).__name__}(reduction='mean') on raw outputs",
            "execution": "torch.compile" if self.spec.compile == "jit" else "eager",
            "notes": ("Adam: PyTorch adds epsilon after bias-correcting sqrt(v); Keras adds it before",)
            if isinstance(self.spec.workload.optimizer, Adam)
            else (),
        }


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> TorchSession:
    return TorchSession(spec, data, weights)
