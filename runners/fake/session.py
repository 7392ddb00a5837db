"""The fake runner's session: a numpy forward pass over the shared initial weights."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np

from runners.datasets import Arrays
from runners.fairness import Split
from schemas.job import JobSpec
from schemas.tiers import TUNED

FAULT = os.environ.get("BENCH_FAKE_FAULT", "")
FAULT_REPEAT = os.environ.get("BENCH_FAKE_FAULT_REPEAT")  # only this repeat misbehaves, if set
EPOCH_SECONDS = float(os.environ.get("BENCH_FAKE_EPOCH_SECONDS", "0.01"))
# BENCH_FAKE_GPU=1: a GPU job reports the device it was given (CUDA_VISIBLE_DEVICES) as its GPU,
# so GPU scheduling (e.g. on a Ray cluster declaring fake GPUs) is testable on a CPU-only machine.
FAKE_GPU = os.environ.get("BENCH_FAKE_GPU") == "1"
# compile = "jit" behaves as a compiler does, visibly and deterministically: the first epoch pays a
# "compilation" of JIT_COMPILE_EPOCHS extra epochs, every later one takes JIT_STEADY_FACTOR as long.
# Its cumulative time drops below "none"'s after epoch 1 + 3 / (1 - 0.6) = 8.5, i.e. from epoch 9 on
# (no tie at a whole epoch, so timer noise cannot move it): the results' compile table is testable.
JIT_COMPILE_EPOCHS = 3.0
JIT_STEADY_FACTOR = 0.6
# tier = "tuned" (schemas/tiers.py) takes this share of the matched tier's time in every epoch.
TUNED_FACTOR = 0.9


class FakeSession:
    def __init__(self, spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec, self.weights, self.epoch = spec, [(k.copy(), b.copy()) for k, b in weights], 0
        self.inputs: dict[Split, np.ndarray] = {"train": data.x_train, "val": data.x_val}
        self.activations = [layer.activation for layer in spec.workload.layers]
        self.fault = FAULT if FAULT_REPEAT in (None, str(spec.repeat)) else ""
        self.first_steps_loss: tuple[int, float] | None = None
        self.gpu: dict[str, str] | None = None
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if FAKE_GPU and spec.device.kind == "gpu" and visible:
            # A UUID names the device itself (as CUDA would report it); an index gets a fake UUID.
            uuid = visible if visible.startswith(("GPU-", "MIG-")) else f"GPU-fake-{visible}"
            self.gpu = {"name": "fake GPU", "gpu_uuid": uuid}
            print(f"fake: CUDA_VISIBLE_DEVICES={visible}", flush=True)

    def param_count(self) -> int:
        return sum(k.size + b.size for k, b in self.weights)

    def outputs(self, split: Split) -> np.ndarray:
        x = self.inputs[split]
        for (kernel, bias), act in zip(self.weights, self.activations, strict=False):
            x = x @ kernel + bias
            x = np.maximum(x, 0) if act == "relu" else np.tanh(x) if act == "tanh" else x
        return x.astype(np.float32)

    def train_epoch(self, perm: np.ndarray) -> tuple[float, float]:
        self.epoch += 1
        if self.fault == "crash" and self.epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "hang":
            time.sleep(3600)
        if self.fault == "error":
            raise RuntimeError("injected fault")
        start = time.perf_counter()
        time.sleep(self.epoch_seconds())
        kernel, bias = self.weights[-1]
        kernel *= 0.9  # outputs shrink towards zero: a deterministic, finite "learning" curve
        loss = float("nan") if self.fault == "nan" else 1.0 / self.epoch
        return time.perf_counter() - start, loss

    def epoch_seconds(self) -> float:
        tier = TUNED_FACTOR if self.spec.tier == "tuned" else 1.0
        if self.spec.compile != "jit":
            return EPOCH_SECONDS * tier
        return EPOCH_SECONDS * tier * (1.0 + JIT_COMPILE_EPOCHS if self.epoch == 1 else JIT_STEADY_FACTOR)

    def is_oom(self, exc: BaseException) -> bool:
        return False

    def fingerprint(self) -> dict[str, Any]:
        return {
            "framework": "fake",
            "framework_version": "0",
            "threads": {"intra_op": self.spec.threads.intra_op, "inter_op": self.spec.threads.inter_op},
            "optimizer": {"class": "none"},
            "loss": "none",
            "execution": "numpy, simulated jit (slow first epoch, faster steady ones)"
            if self.spec.compile == "jit"
            else "numpy",
            "input_path": "numpy arrays in host memory; no training steps (a sleep stands in for them)",
            "host_syncs": {"per_step": 0, "per_epoch": 0},
            "tuning": TUNED["fake"] if self.spec.tier == "tuned" else (),
            "gpu": self.gpu,
        }


def build(spec: JobSpec, data: Arrays, weights: list[tuple[np.ndarray, np.ndarray]]) -> FakeSession:
    return FakeSession(spec, data, weights)
