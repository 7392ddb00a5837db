"""PyTorch plug-in: idiomatic eager training on in-memory tensors.

Choice: a plain loop over batches of tensors that already live on the device. The data is in memory,
so a DataLoader would only add per-sample Python collation (the harness would be measured, not
PyTorch). The epoch's permutation gather and its split into batches happen before the clock starts,
as in the Keras runner, and the loss is summed on the device: the only host wait is the one read at
the end of the epoch (the same work as the Keras runner's timed region; fingerprint `host_syncs`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from runners.datasets import Arrays
from runners.fairness import Split, dropout_seed, layer_notes
from runners.pytorch import optim
from runners.pytorch.network import build_network, to_channels_first, to_channels_last
from schemas.common import FIRST_STEPS
from schemas.job import Adam, JobSpec
from schemas.tiers import TUNED

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


def memory_peak(device: torch.device | str) -> tuple[int, str] | None:
    """The CUDA caching allocator's peak for a GPU job (shared with the keras-torch runner)."""
    if torch.device(device).type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(device)), "torch.cuda.max_memory_allocated"


def is_oom(exc: BaseException) -> bool:
    # CUDA raises OutOfMemoryError; the CPU allocator a RuntimeError "can't allocate memory".
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "allocate memory" in text


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
    torch.manual_seed(dropout_seed(spec.seed))  # dropout's masks: the only draws PyTorch makes here
    torch.set_num_threads(spec.threads.intra_op)
    torch.set_num_interop_threads(spec.threads.inter_op)
    _set_tf32(spec.tf32)
    if spec.device.kind == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("spec asks for a GPU but torch.cuda.is_available() is False")
        return torch.device("cuda:0")  # the backend narrows CUDA_VISIBLE_DEVICES to the job's GPUs
    return torch.device("cpu")


class TorchSession:
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.device = _configure(spec)
        model, self.layer_ends = build_network(spec.workload, weights)
        # Tier "tuned" (schemas/tiers.py): a conv net runs channels-last, model and inputs.
        self.channels_last = spec.tier == "tuned" and len(spec.workload.input_shape) == 3
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device)
        self.optimizer, self.adam_eps = optim.build(spec, self.model.parameters(), self.device)
        self.first_steps_loss: tuple[int, float] | None = None
        self.loss_fn = nn.CrossEntropyLoss() if spec.workload.loss == "cross_entropy" else nn.MSELoss()
        # "jit": torch.compile of the whole step (forward, loss, backward, optimizer update), PyTorch's
        # documented way to compile training; "none": the same step, eager.
        step = optim.train_step(self.model, self.optimizer, self.loss_fn, self.adam_eps)
        self.step = torch.compile(step) if spec.compile == "jit" else step
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
        if len(image) != 3:
            return torch.from_numpy(x).to(self.device)
        if self.channels_last:  # .to() keeps the strides: the device copy stays channels-last
            return to_channels_last(x, image).to(self.device)
        return to_channels_first(x, image).to(self.device)

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
        step_fn = self.step
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
        for step, (xb, yb) in enumerate(batches):
            loss = step_fn(xb, yb)
            total.add_(loss, alpha=len(xb))  # one kernel, stays on device: no sync per step
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
        return memory_peak(self.device)

    def is_oom(self, exc: BaseException) -> bool:
        return is_oom(exc)

    def fingerprint(self) -> dict[str, Any]:
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
            "optimizer": optim.describe(self.optimizer, self.adam_eps),
            "loss": f"torch.nn.{type(self.loss_fn).__name__}(reduction='mean') on raw outputs",
            "execution": "torch.compile of the whole train step (forward, loss, backward, Keras's Adam "
            "update in tensor ops)"
            if self.spec.compile == "jit"
            else "eager",
            "tf32_applied": tf32_applied(),
            "input_path": "device-resident tensors, gathered and split into batches per epoch before the "
            "clock; one eager (or compiled) step per batch",
            "host_syncs": {"per_step": 0, "per_epoch": 1},
            "tuning": TUNED["pytorch"] if self.channels_last else (),
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
