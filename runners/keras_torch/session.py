"""Keras 3 on the PyTorch backend: the tensorflow runner's Keras model, trained the way `fit` trains on
torch. It answers "what does Keras cost on top of PyTorch?" beside the PyTorch runner (same torch).

Choice: each batch runs Keras's own `train_function` (`make_train_function`: `model.train_step` on one
batch, wrapped in `torch.compile` when jit_compile is on), after `fit`'s `_symbolic_build` has built the
loss, metrics and optimizer slots, so Keras's loss, gradient and optimizer maths are unchanged. `fit`
itself is not used (runners/tensorflow/session.py says why): the training tensors are put on the job's
device once, each epoch's permutation gather and split happen before the clock starts, the timed loop
only runs one Keras step per batch and reads nothing back, and the epoch's running mean loss (Keras's
loss tracker, weighted by batch size, as `fit`'s history) is read once at the end, which waits for the
device before the clock stops.

Compile modes: "none" is Keras's default for torch (`jit_compile="auto"` resolves to False: eager);
"jit" is jit_compile=True, Keras's torch.compile of the step. Keras places every tensor it creates on
its own default device (cuda when there is one), so the session keeps `keras.device` on the job's device
around everything it runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import torch  # noqa: E402

from runners.datasets import Arrays  # noqa: E402
from runners.fairness import Split, batch_sizes  # noqa: E402
from runners.keras_common.network import (  # noqa: E402
    KerasEvaluation,
    as_input,
    build_model,
    describe_loss,
    encoder,
    in_chunks,
    keras_notes,
    make_loss,
    make_optimizer,
    optimizer_applied,
    predictions,
)
from runners.pytorch.session import _set_tf32, is_oom, memory_peak, tf32_applied  # noqa: E402  (the same torch, the same switches)
from schemas.common import FIRST_STEPS  # noqa: E402
from schemas.job import JobSpec  # noqa: E402


def _configure(spec: JobSpec) -> str:
    torch.set_num_threads(spec.threads.intra_op)
    torch.set_num_interop_threads(spec.threads.inter_op)
    _set_tf32(spec.tf32)
    if spec.device.kind == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("spec asks for a GPU but torch.cuda.is_available() is False")
        return "cuda:0"  # the backend narrows CUDA_VISIBLE_DEVICES to the job's GPUs
    return "cpu"


class KerasTorchSession(KerasEvaluation):
    EVAL_ROWS = 4096  # rows per inference pass outside the clock, as the PyTorch runner

    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.device = _configure(spec)
        w = spec.workload
        with keras.device(self.device):
            self.model = build_model(w, weights, spec.seed)
            self.model.compile(
                optimizer=make_optimizer(w), loss=make_loss(w), jit_compile=spec.compile == "jit"
            )
            # Once, outside any clock (the PyTorch runner's .to(device)).
            self.x = torch.from_numpy(as_input(data.x_train, w)).to(self.device)
            self.y = torch.from_numpy(data.y_train).to(self.device)
            self.x_val = torch.from_numpy(as_input(data.x_val, w)).to(self.device)
            bs = min(w.batch_size, len(data.x_train))
            self.model._symbolic_build(data_batch=(self.x[:bs], self.y[:bs]))  # as `fit` does first
            self.model.make_train_function()
        self.x_epoch, self.y_epoch = torch.empty_like(self.x), torch.empty_like(self.y)
        self.first_steps_loss: tuple[int, float] | None = None

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def outputs(self, split: Split) -> np.ndarray:
        with keras.device(self.device):
            return predictions(self.model, self.x if split == "train" else self.x_val, self.EVAL_ROWS)

    def codes(self, split: Split) -> np.ndarray:
        encode = encoder(self.model, self.spec.workload)
        with keras.device(self.device), torch.no_grad():
            chunks = in_chunks(self.x if split == "train" else self.x_val, self.EVAL_ROWS, encode)
            return torch.cat(chunks).cpu().numpy()

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        n, bs = len(perm), self.spec.workload.batch_size
        idx = torch.from_numpy(perm).to(self.device)
        # Gathered and split into batches (views) before the clock starts, as in the other runners.
        x = torch.index_select(self.x, 0, idx, out=self.x_epoch)
        y = torch.index_select(self.y, 0, idx, out=self.y_epoch)
        batches = list(zip(x.split(batch_sizes(n, bs)), y.split(batch_sizes(n, bs)), strict=True))
        model = self.model
        first_at = FIRST_STEPS - 1 if self.first_steps_loss is None else -1
        first = None
        with keras.device(self.device):
            model.reset_metrics()  # what `fit` does at each epoch's start: the loss tracker restarts
            step = model.train_function
            self._sync()
            start = time.perf_counter()
            for i, batch in enumerate(batches):
                logs = step([batch])  # fit hands its step a list of batches (one per execution)
                if i == first_at:
                    first = logs["loss"].detach().clone()  # on the device, not read here
            running = float(logs["loss"])  # the epoch's one read: it waits for the device
            seconds = time.perf_counter() - start
        if self.first_steps_loss is None:
            seen = min(n, FIRST_STEPS * bs)
            self.first_steps_loss = (seen, running if first is None else float(first))
        return seconds, running

    def memory_peak(self) -> tuple[int, str] | None:
        return memory_peak(self.device)

    def is_oom(self, exc: BaseException) -> bool:
        return is_oom(exc)

    def fingerprint(self) -> dict[str, Any]:
        w = self.spec.workload
        gpu = None
        if self.device.startswith("cuda"):
            from runners.environment import nvidia_driver, nvidia_gpu_uuid
            from runners.gpu import cublas_version

            props = torch.cuda.get_device_properties(self.device)
            cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
            gpu = {
                "name": torch.cuda.get_device_name(self.device),
                "driver": nvidia_driver(),
                "cuda": torch.version.cuda,
                "gpu_uuid": nvidia_gpu_uuid(0),
                "compute_capability": f"{props.major}.{props.minor}",
                "memory_total_bytes": int(props.total_memory),
                "cudnn": str(cudnn) if cudnn else None,
                "cublas": cublas_version(),
            }
        jit = self.model.jit_compile  # read back: what Keras resolved, not what was asked
        return {
            "framework": "keras-torch",
            "framework_version": f"keras {keras.__version__} (torch {torch.__version__})",
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            "gpu": gpu,
            "optimizer": optimizer_applied(self.model),
            "loss": describe_loss(self.model, w),
            "execution": "Keras TorchTrainer train_function (Model.train_step) in torch.compile (jit_compile=True)"
            if jit
            else "Keras TorchTrainer train_function (Model.train_step), eager (jit_compile=False, Keras's "
            "default for torch)",
            "input_path": "device-resident tensors, gathered and split per epoch before the clock; "
            "one Keras train_step per batch",
            "host_syncs": {"per_step": 0, "per_epoch": 1},
            "tf32_applied": tf32_applied(),
            "notes": keras_notes(w),
        }


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> KerasTorchSession:
    return KerasTorchSession(spec, data, weights)
