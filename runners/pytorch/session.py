"""PyTorch plug-in: idiomatic eager training on in-memory tensors.

Choice: a plain loop over batches of tensors that already live on the device. The data is in memory,
so a DataLoader would only add per-sample Python collation (the harness would be measured, not
PyTorch). The epoch's permutation gather and its split into batches happen before the clock starts,
as in the Keras runner, and the loss is summed on the device: the only host wait is the one read at
the end of the epoch (the same work as the Keras runner's timed region; fingerprint `host_syncs`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from runners.datasets import Arrays
from runners.fairness import Split, layer_notes
from runners.pytorch.network import build_network, to_channels_first
from schemas.common import FIRST_STEPS
from schemas.job import Adam, JobSpec

# Rows per forward pass when evaluating a whole split (outside the clock). Measured on a 2-vCPU VM,
# Fashion-MNIST train + val (70,000 rows, 784-128-128-10): 2048: 113 ms, 4096: 112, 8192: 124,
# 16384: 134, all rows: 146 (best of 6) -- activations that stay in cache beat fewer calls; the
# GEMMs alone at PyTorch's rate there (~140 GFLOP/s) take ~118 ms, so this is the floor.
EVAL_ROWS = 4096


def _set_tf32(allowed: bool) -> None:
    """Full float32 matmuls and convolutions unless the spec asks for TF32 (the same switch is set in
    Keras). PyTorch >= 2.9 has per-backend `fp32_precision` settings and warns that the legacy
    `allow_tf32` flags are going away; mixing the two APIs is an error, so only one is used."""
    mode = "tf32" if allowed else "ieee"
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
        torch.backends.cudnn.rnn.fp32_precision = mode
    else:  # older PyTorch
        torch.backends.cuda.matmul.allow_tf32 = allowed
        torch.backends.cudnn.allow_tf32 = allowed


def tf32_applied() -> str:
    """The matmul and convolution modes as PyTorch reports them after `_set_tf32`."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        return (
            f"matmul {torch.backends.cuda.matmul.fp32_precision}, "
            f"cudnn.conv {torch.backends.cudnn.conv.fp32_precision}"
        )
    matmul = "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
    return f"matmul {matmul}, cudnn.conv {'tf32' if torch.backends.cudnn.allow_tf32 else 'ieee'}"


def _configure(spec: JobSpec) -> torch.device:
    torch.set_num_threads(spec.threads.intra_op)
    torch.set_num_interop_threads(spec.threads.inter_op)
    _set_tf32(spec.tf32)
    if spec.device.kind == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("spec asks for a GPU but torch.cuda.is_available() is False")
        return torch.device("cuda:0")  # the backend narrows CUDA_VISIBLE_DEVICES to the job's GPUs
    return torch.device("cpu")


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
        model, self.layer_ends = build_network(spec.workload, weights)
        self.model = model.to(self.device)
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
        self.x = self._inputs(data.x_train)
        self.y = torch.from_numpy(data.y_train).to(self.device)
        self.x_val = self._inputs(data.x_val)
        # Each epoch's gathered copy of the training set is written into these (index_select out=):
        # a fresh 188 MB tensor per epoch cost 84 ms of page faults on Fashion-MNIST, 20 ms reused.
        self.x_epoch, self.y_epoch = torch.empty_like(self.x), torch.empty_like(self.y)
        # GPU evidence for the harness (runners/harness.py: Session): the device CUDA runs on, and
        # per epoch (CUDA-event seconds, whether the stream was idle when the host clock stopped).
        self.gpu_uuid = _uuid(self.device) if self.device.type == "cuda" else None
        self.device_timing: tuple[float, bool] | None = None
        self.events: list[torch.cuda.Event] = []
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            # Created and recorded once here: CUDA creates an event lazily at its first record, host
            # work that would otherwise sit inside epoch 1's clock before its start event (10 ms on
            # an H200, 6% of a petrol epoch).
            self.events = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
            for event in self.events:
                event.record()
            self._sync()

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        """On the device, in the layout the first layer takes: (n, c, h, w) images for a conv net."""
        image = self.spec.workload.input_shape
        return (to_channels_first(x, image) if len(image) == 3 else torch.from_numpy(x)).to(self.device)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def param_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def outputs(self, split: Split) -> np.ndarray:
        x = self.x if split == "train" else self.x_val
        self.model.eval()
        with torch.inference_mode():
            out = torch.cat([self.model(chunk) for chunk in x.split(EVAL_ROWS)])
        return out.cpu().numpy()

    def codes(self, split: Split) -> np.ndarray:
        x = self.x if split == "train" else self.x_val
        encoder = self.model[: self.layer_ends[self.spec.workload.code_layer or 0]]
        self.model.eval()
        with torch.inference_mode():
            return torch.cat([encoder(chunk) for chunk in x.split(EVAL_ROWS)]).cpu().numpy()

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        idx = torch.from_numpy(perm).to(self.device)
        bs = self.spec.workload.batch_size
        # Gathered and split into batches (views) before the clock starts, as in the Keras runner.
        x = torch.index_select(self.x, 0, idx, out=self.x_epoch)
        y = torch.index_select(self.y, 0, idx, out=self.y_epoch)
        batches = list(zip(x.split(bs), y.split(bs), strict=True))
        n = len(perm)
        model, opt, loss_fn = self.step_model, self.optimizer, self.loss_fn
        self.model.train()
        total = torch.zeros((), device=self.device)
        # Parity evidence: the mean loss of the first FIRST_STEPS batches, before float32 rounding
        # differences between frameworks have had many steps to grow (snapshot on device, no sync).
        first_at = FIRST_STEPS - 1 if self.first_steps_loss is None else -1
        first = None
        cuda, events = self.device.type == "cuda", self.events
        self._sync()
        start = time.perf_counter()
        if cuda:
            events[0].record()
        group, adam_eps = opt.param_groups[0], self.adam_eps
        for step, (xb, yb) in enumerate(batches):
            if adam_eps is not None:
                group["eps"] = adam_eps.next()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total.add_(loss.detach(), alpha=len(xb))  # one kernel, stays on device: no sync per step
            if step == first_at:
                first = total.clone()
        mean = total / n  # before the end event: its kernel's lazy load in epoch 1 is then in both clocks
        if cuda:
            events[1].record()
        running = mean.item()  # synchronises the device before the clock is read
        seconds = time.perf_counter() - start
        if cuda:  # asked after the clock: was anything still queued when it stopped?
            idle = torch.cuda.current_stream(self.device).query()
            self.device_timing = (events[0].elapsed_time(events[1]) / 1000.0, idle)
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, float(((total if first is None else first) / seen).item()))
        return seconds, running

    def memory_peak(self) -> tuple[int, str] | None:
        if self.device.type != "cuda":
            return None
        return int(torch.cuda.max_memory_allocated(self.device)), "torch.cuda.max_memory_allocated"

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
            from runners.environment import nvidia_driver
            from runners.gpu import cublas_version

            props = torch.cuda.get_device_properties(self.device)
            cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
            gpu = {
                "name": torch.cuda.get_device_name(self.device),
                "driver": nvidia_driver(),
                "cuda": torch.version.cuda,
                "gpu_uuid": self.gpu_uuid,
                "compute_capability": f"{props.major}.{props.minor}",
                "memory_total_bytes": int(props.total_memory),
                "cudnn": str(cudnn) if cudnn else None,
                "cublas": cublas_version(),
            }
        return {
            "framework": "pytorch",
            "framework_version": torch.__version__,
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            "gpu": gpu,
            "optimizer": {"class": type(self.optimizer).__name__, **applied},
            "loss": f"torch.nn.{type(self.loss_fn).__name__}(reduction='mean') on raw outputs",
            "execution": "torch.compile" if self.spec.compile == "jit" else "eager",
            "tf32_applied": tf32_applied(),
            "input_path": "device-resident tensors, gathered and split into batches per epoch before the "
            "clock; one eager (or compiled-model) step per batch",
            "host_syncs": {"per_step": 0, "per_epoch": 1},
            "notes": (
                ("Adam: PyTorch adds epsilon after bias-correcting sqrt(v); Keras adds it before",)
                if isinstance(self.spec.workload.optimizer, Adam)
                else ()
            )
            + layer_notes(self.spec.workload),
        }


def _uuid(device: torch.device) -> str | None:
    """The device CUDA itself runs the job on, as nvidia-smi names it ("GPU-xxxxxxxx-..."); with a
    MIG UUID or a GPU UUID in CUDA_VISIBLE_DEVICES that entry is the answer, else the device's own."""
    from runners.environment import nvidia_gpu_uuid

    uuid = str(getattr(torch.cuda.get_device_properties(device), "uuid", "") or "")
    visible = nvidia_gpu_uuid(0)
    if visible and visible.startswith("MIG-"):
        return visible
    if uuid:
        return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
    return visible


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> TorchSession:
    return TorchSession(spec, data, weights)
