"""What the job's GPU did while it trained, read through NVML (nvidia-ml-py's `pynvml`).

Framework-neutral: the harness samples around each timed epoch (the energy counter, clocks,
temperature, throttle reasons, other processes) and the plug-in adds what only the framework knows
(the allocator's peak memory, cuDNN). Every reading is optional: a runner environment without
nvidia-ml-py, or a GPU that does not support a query, records why instead of failing the job.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

# NVML's nvmlClocksEventReason* bits (formerly "throttle reasons"; nvidia-smi's
# clocks_event_reasons.active prints the same mask). Idle (0x1) and the application-clock setting
# (0x2) are how a GPU normally runs; everything else slowed it down.
_REASONS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def reason_names(mask: int) -> tuple[str, ...]:
    return tuple(name for bit, name in _REASONS.items() if mask & bit)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class GpuMonitor:
    """One GPU, by the UUID CUDA ran the job on. `open` returns None (and `why` says so) when NVML
    cannot be used here; every method then stays silent."""

    handle: Any
    nvml: Any
    energy_mj: list[int] = field(default_factory=list)  # per timed epoch
    seconds: list[float] = field(default_factory=list)
    sm_mhz: list[int] = field(default_factory=list)
    temps: list[int] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    others: int | None = None
    _energy_start: int | None = None
    _started: float = 0.0

    @staticmethod
    def open(uuid: str | None) -> tuple[GpuMonitor | None, str]:
        if not uuid:
            return None, "no GPU UUID to look up"
        try:
            import pynvml
        except ImportError:
            return None, "no nvidia-ml-py in this runner environment"
        try:
            pynvml.nvmlInit()
            return GpuMonitor(pynvml.nvmlDeviceGetHandleByUUID(uuid.encode()), pynvml), "nvml"
        except Exception as exc:  # NVMLError and friends: one word is enough for the report
            return None, f"NVML unavailable: {type(exc).__name__}: {exc}"

    def _try(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.nvml, name)(self.handle, *args)
        except Exception:  # not supported on this GPU / MIG instance: not measured
            return None

    def static(self) -> dict[str, Any]:
        """Identity the framework may not tell: memory, compute capability, PCI bus."""
        memory = self._try("nvmlDeviceGetMemoryInfo")
        cc = self._try("nvmlDeviceGetCudaComputeCapability")
        pci = self._try("nvmlDeviceGetPciInfo")
        return {
            "memory_total_bytes": int(memory.total) if memory is not None else None,
            "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
            "pci_bus_id": _text(pci.busId) if pci is not None else None,
        }

    def epoch_start(self) -> None:
        self._energy_start = self._try("nvmlDeviceGetTotalEnergyConsumption")
        self._started = time.perf_counter()

    def epoch_end(self) -> float | None:
        """After an epoch's training call (the epoch's gather and split, then its timed steps): the
        energy in joules over that call (None when the counter is unsupported), and a sample of
        clocks, temperature, throttle reasons and other processes. Mean power divides by the same
        window, not by the timed seconds alone."""
        end = self._try("nvmlDeviceGetTotalEnergyConsumption")
        joules = None
        if end is not None and self._energy_start is not None:
            self.energy_mj.append(int(end) - int(self._energy_start))
            self.seconds.append(time.perf_counter() - self._started)
            joules = (int(end) - int(self._energy_start)) / 1000.0
        sm = self._try("nvmlDeviceGetClockInfo", self.nvml.NVML_CLOCK_SM)
        if sm is not None:
            self.sm_mhz.append(int(sm))
        temp = self._try("nvmlDeviceGetTemperature", self.nvml.NVML_TEMPERATURE_GPU)
        if temp is not None:
            self.temps.append(int(temp))
        mask = self._try("nvmlDeviceGetCurrentClocksEventReasons")
        if mask is None:
            mask = self._try("nvmlDeviceGetCurrentClocksThrottleReasons")
        if mask is not None:
            self.reasons.update(reason_names(int(mask)))
        procs = self._try("nvmlDeviceGetComputeRunningProcesses")
        if procs is not None:
            others = len({p.pid for p in procs} - {os.getpid()})
            self.others = max(self.others or 0, others)
        return joules

    def summary(self) -> dict[str, Any]:
        mem_clock = self._try("nvmlDeviceGetClockInfo", self.nvml.NVML_CLOCK_MEM)
        energy = sum(self.energy_mj) / 1000.0 if self.energy_mj else None
        seconds = sum(self.seconds)
        return {
            "energy_joules": energy,
            "power_watts_mean": energy / seconds if energy is not None and seconds > 0 else None,
            "sm_clock_mhz": (min(self.sm_mhz), max(self.sm_mhz)) if self.sm_mhz else None,
            "memory_clock_mhz": int(mem_clock) if mem_clock is not None else None,
            "temperature_c": (min(self.temps), max(self.temps)) if self.temps else None,
            "throttle_reasons": tuple(sorted(self.reasons)),
            "other_processes": self.others,
            "source": "nvml",
        }

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


def cublas_version() -> str | None:
    """The cuBLAS the runner environment installed (NVIDIA's wheels), by distribution name."""
    from importlib import metadata

    for name in ("nvidia-cublas", "nvidia-cublas-cu13", "nvidia-cublas-cu12"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None
