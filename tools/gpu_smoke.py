"""GPU smoke test: the PyTorch runner end to end on a real NVIDIA GPU, checked against the hardware.

For a GPU host with PyTorch, numpy and the orchestrator's pure-Python dependencies, but possibly no
TensorFlow, no Docker and no network (a typical CUDA image): `bench orchestrate --backend current`
runs the paper's two tasks, plus its MNIST network at batch 128, on the GPU, then every report is
checked:

    status ok                 every job ended ok
    gpu uuid / driver         the device the runner reports is the one it was placed on, and its
                              driver is nvidia-smi's
    tf32 off by flag          PyTorch reads back IEEE float32 for matmul and cuDNN convolutions
    tf32 off numerically      a float32 matmul under the runner's own setting matches float64 to
                              1e-5 relative, and the same matmul with TF32 allowed does not (so the
                              check can fail)
    nothing pending at stop   the CUDA stream was idle when each epoch's host clock stopped
    host clock vs CUDA events each epoch's host-clock seconds within 2% (or 2 ms) of its CUDA-event
                              seconds, and never shorter
    telemetry                 allocator peak memory and NVML readings recorded

    python3 tools/gpu_smoke.py [--out DIR]        (make gpu-smoke)

Exit 0 when every check passes, 1 when one fails, 2 when the host cannot run it (no GPU, no torch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH_128_SUITE = """# written by tools/gpu_smoke.py: the paper's MNIST network at batch 128
schema_version = 1
name = "gpu-smoke-b128"
frameworks = ["pytorch"]
repeats = 1
seed = 2022
intra_op_threads = "auto"
job_timeout_seconds = 1800
[[tasks]]
name = "classification-b128"
task = "classification"
datasets = {datasets}
layers = [{{ units = 128, activation = "relu" }}, {{ units = 128, activation = "relu" }}, {{ units = 10, activation = "linear" }}]
optimizer = {{ name = "adam", learning_rate = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7 }}
batch_size = 128
epochs = 10
"""

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str) -> None:
    RESULTS.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def smi(query: str) -> list[str]:
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return [line.strip() for line in out.splitlines() if line.strip()]


def orchestrate(suite: Path, out: Path) -> int:
    cmd = [sys.executable, "-m", "orchestrator.cli", "orchestrate", "--suite", str(suite),
           "--backend", "current", "--gpus", "all", "--frameworks", "pytorch", "--repeats", "1",
           "--quiet-wait", "0", "--rerun-contaminated", "0", "--out", str(out)]  # fmt: skip
    print("$", " ".join(cmd), flush=True)
    started = time.monotonic()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    code = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}).returncode
    print(f"# exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


def reports(run: Path) -> list[dict]:
    return (
        [json.loads(p.read_text()) for p in sorted((run / "reports").glob("*.json"))] if run.exists() else []
    )


def tf32_numerics() -> tuple[float, float]:
    """Relative error of a float32 matmul against float64 under the runner's own TF32 switch, off and
    then on (same inputs)."""
    import torch

    from runners.pytorch.session import _set_tf32

    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(2048, 2048, device="cuda", generator=gen)
    b = torch.randn(2048, 2048, device="cuda", generator=gen)
    exact = (a.double() @ b.double()).float()
    errors = []
    for allowed in (False, True):
        _set_tf32(allowed)
        got = a @ b
        torch.cuda.synchronize()
        errors.append(float((got - exact).abs().max() / exact.abs().max()))
    _set_tf32(False)
    return errors[0], errors[1]


def hand_loop(npz: Path, batch: int, epochs: int = 5) -> float:
    """The simplest fast PyTorch loop on the same data and network (device-resident batches, Adam, no
    loss bookkeeping, no per-epoch evaluation): a yardstick for the runner's steady-state epoch, not a
    pass/fail check."""
    import numpy as np
    import torch

    from runners.datasets import load

    data = load(npz)
    x = torch.from_numpy(data.x_train).cuda()
    y = torch.from_numpy(data.y_train).cuda()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10)).cuda()  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn, times = torch.nn.CrossEntropyLoss(), []
    for epoch in range(epochs):
        idx = torch.from_numpy(np.random.default_rng(epoch).permutation(len(data.y_train))).cuda()
        batches = list(zip(x[idx].split(batch), y[idx].split(batch), strict=True))
        torch.cuda.synchronize()
        start = time.perf_counter()
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def check_run(run: list[dict], uuids: set[str], driver: str) -> None:
    for r in run:
        name = f"{r['spec_id']} ({len(r['epochs'])} epochs)"
        check(f"status ok: {name}", r["status"] == "ok",
              r["status"] + (f": {r['error']['message'][:300]}" if r.get("error") else ""))  # fmt: skip
        if r["status"] != "ok":
            continue
        gpu, placed = r["env"]["gpu"] or {}, r["placement"]["gpus"]
        check(f"gpu uuid: {name}", gpu.get("gpu_uuid") in uuids and gpu.get("gpu_uuid") in placed,
              f"runner {gpu.get('gpu_uuid')} placed on {placed}, nvidia-smi lists {sorted(uuids)}")  # fmt: skip
        check(
            f"driver: {name}", gpu.get("driver") == driver, f"runner {gpu.get('driver')}, nvidia-smi {driver}"
        )
        applied = r["fairness"]["tf32_applied"]
        check(f"tf32 off by flag: {name}", applied == "matmul ieee, cudnn.conv ieee", f"read back: {applied}")
        idle = [e.get("device_idle_at_stop") for e in r["epochs"]]
        check(
            f"nothing pending at stop: {name}",
            all(idle),
            f"stream idle at clock stop in {sum(map(bool, idle))}/{len(idle)} epochs",
        )
        pairs = [(e["train_seconds"], e.get("device_seconds")) for e in r["epochs"]]
        if any(d is None for _, d in pairs):
            check(f"host clock vs CUDA events: {name}", False, "no CUDA-event time recorded")
        else:
            gaps = [(h - d) / h for h, d in pairs if h > 0]
            ok = all(d <= h + 1e-4 and h - d <= max(0.02 * h, 0.002) for h, d in pairs)
            shown = ", ".join(f"{h:.4f}/{d:.4f}" for h, d in pairs[:3])
            check(f"host clock vs CUDA events: {name}", ok,
                  f"host/event s {shown} ...; largest gap {max(gaps):.2%} of host time")  # fmt: skip
        tel = r.get("gpu_telemetry") or {}
        check(f"telemetry: {name}", bool(tel.get("memory_peak_bytes")) and tel.get("source") == "nvml",
              f"peak {tel.get('memory_peak_bytes')} B ({tel.get('memory_peak_source')}), energy "
              f"{tel.get('energy_joules')} J, mean {tel.get('power_watts_mean')} W, SM MHz "
              f"{tel.get('sm_clock_mhz')}, throttle {tel.get('throttle_reasons')}, others "
              f"{tel.get('other_processes')}, source {tel.get('source')}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "results" / f"gpu-smoke-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    args = parser.parse_args()
    try:
        names, uuids, drivers = smi("name"), smi("uuid"), smi("driver_version")
        import torch
    except (OSError, subprocess.SubprocessError, ImportError) as exc:
        print(f"error: this host cannot run the GPU smoke test: {exc}", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("error: torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    print(f"# GPUs: {names}; driver {drivers[0]}; torch {torch.__version__} (CUDA {torch.version.cuda})")
    if args.out.exists() and any(args.out.iterdir()):  # a finished run there would be resumed, not re-run
        print(f"error: {args.out} is not empty; give a new --out", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    orchestrate(ROOT / "suites" / "paper.toml", args.out / "paper")
    meta = args.out / "paper" / "run.json"
    used = json.loads(meta.read_text()).get("datasets", {}) if meta.exists() else {}
    dataset = used.get("classification", {}).get("used", "mnist-5k")
    suite = args.out / "b128.toml"
    suite.write_text(BATCH_128_SUITE.format(datasets=json.dumps([dataset])))
    orchestrate(suite, args.out / "b128")
    runs = reports(args.out / "paper") + reports(args.out / "b128")
    check("jobs", len(runs) == 3, f"{len(runs)} reports (paper: classification + regression; batch 128)")
    check_run(runs, set(uuids), drivers[0])
    off, on = tf32_numerics()
    check("tf32 off numerically", off < 1e-5 and on > 10 * off,
          f"2048^2 matmul max rel. error vs float64: {off:.2e} with TF32 off, {on:.2e} with it allowed")  # fmt: skip
    print("\n# steady-state epoch (median of epochs 2..N), PyTorch runner on", names[0])
    for r in runs:
        if r["status"] == "ok":
            spec = json.loads(next((args.out).glob(f"*/specs/{r['spec_id']}.json")).read_text())
            w = spec["workload"]
            print(f"  {w['dataset']:<14} batch {w['batch_size']:>4}: steady {r['timing']['steady_epoch_seconds']:.3f} s, "
                  f"first {r['timing']['first_epoch_seconds']:.3f} s, val {r['metric']} {r['epochs'][-1]['val_metric']:.4f}")  # fmt: skip
    npz = args.out / "paper" / "data" / f"{dataset}.npz"
    if npz.exists():
        print(f"\n# the same network in a minimal hand-written PyTorch loop ({dataset}, same GPU)")
        steady = {json.loads(next(args.out.glob(f"*/specs/{r['spec_id']}.json")).read_text())["workload"]["batch_size"]: r
                  for r in runs if r["status"] == "ok" and r["fairness"]["dataset"] == dataset}  # fmt: skip
        for batch in (32, 128):
            hand = hand_loop(npz, batch)
            runner = steady[batch]["timing"]["steady_epoch_seconds"] if batch in steady else None
            ratio = f", runner / hand loop {runner / hand:.2f}x" if runner else ""
            print(f"  batch {batch:>4}: hand loop steady {hand:.3f} s{ratio}")
    failed = [name for name, ok, _ in RESULTS if not ok]
    print(
        f"\n# {len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed"
        + (f"; failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
