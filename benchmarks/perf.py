"""Measure the measurer: each runner and mode against the best hand-written loop of its framework.

    .venvs/dev/bin/python benchmarks/perf.py [--rounds 5] [--epochs 3] [--batch-sizes 32,128]
    make perf                       # the same, then the table goes into benchmarks/README.md
    .venvs/dev/bin/python benchmarks/perf.py --model cnn --batch-sizes 64 --rounds 4 --readme
                                    # suites/cnn.toml's LeNet-5: each runner against its hand loop

One process tree, interleaved: every round runs each arm once, in a rotated order, each arm in its
own process (a real runner, `python -m runners.FW`, or `benchmarks/minimal_loop.py`), so drifts of
the machine spread over all arms instead of biasing one. Arms, at each batch size:

    runner  none   the PyTorch / Keras runner as `bench orchestrate` runs it (compile = "none")
    runner  jit    the same with compile = "jit" (PyTorch: torch.compile of the whole step; Keras: XLA)
    hand    eager  minimal_loop.py's plain loop (TensorFlow: one tf.function step with GradientTape)
    hand    compiled  the framework's documented fastest loop: a torch.compile'd whole step; Keras
                   `fit` with XLA and steps_per_execution
    floor          the step's GEMMs alone at its shapes (torch.mm), per epoch

A figure is a steady-state epoch (the median of epochs 2..E of one process); per arm the rounds
give a sample. Ratio runner/hand: the Hodges–Lehmann estimate on log times with the exact
Mann–Whitney interval (orchestrator/results/stats.py, as the verdicts use; needs >= 4 rounds for a
bounded 95% interval). Floor share: the GEMM floor's best round over the arm's median (1.0 would be
an epoch that is nothing but its GEMMs at torch.mm's rate).

Writes results/perf-STAMP/perf.json and perf.md; with --readme, replaces the marked section of
benchmarks/README.md with the table (labelled with this machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import envs  # noqa: E402
from orchestrator.results import stats  # noqa: E402
from runners import datasets, module_for  # noqa: E402
from runners.environment import cpu_model  # noqa: E402
from schemas import JobSpec, RunReport  # noqa: E402
from schemas.common import write_text_atomic  # noqa: E402
from schemas.parse import load_toml  # noqa: E402

FRAMEWORKS = ("pytorch", "tensorflow")
MODELS = ("mlp", "cnn")  # the paper's classification network; suites/cnn.toml's LeNet-5-like one
# Which hand loop each runner mode is held against.
YARDSTICK = {"none": "eager", "jit": "compiled"}


@dataclass(frozen=True)
class Arm:
    framework: str
    kind: str  # runner | hand | floor
    mode: str  # runner: none | jit; hand: eager | compiled; floor: gemm-floor
    batch: int

    @property
    def label(self) -> str:
        return f"{self.framework} {self.kind} {self.mode} b{self.batch}"


def markers(model: str) -> tuple[str, str]:
    """The README section a model's table replaces."""
    name = "perf" if model == "mlp" else f"perf-{model}"
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def model_layers(model: str) -> list[dict[str, object]]:
    if model == "cnn":  # the suite's own network, one source of truth
        return list(load_toml(ROOT / "suites" / "cnn.toml", "suite")["tasks"][0]["layers"])
    return [{"units": 128, "activation": "relu"}, {"units": 128, "activation": "relu"},
            {"units": 10, "activation": "linear"}]  # fmt: skip


def paper_spec(
    framework: str, dataset: str, epochs: int, threads: int, batch: int, compile_mode: str, model: str = "mlp"
) -> JobSpec:
    """The paper's classification job (784-128-128-10, Adam with Keras's epsilon), or the CNN suite's
    network with the same optimizer."""
    return JobSpec.model_validate(
        {
            "framework": framework,
            "workload": {
                "task": "classification",
                "dataset": dataset,
                "layers": model_layers(model),
                "loss": "cross_entropy",
                "optimizer": {
                    "name": "adam",
                    "learning_rate": 1e-3,
                    "beta_1": 0.9,
                    "beta_2": 0.999,
                    "epsilon": 1e-7,
                },  # fmt: skip
                "batch_size": batch,
                "epochs": epochs,
            },
            "seed": 7,
            "repeat": 0,
            "threads": {"intra_op": threads, "inter_op": 1},
            "compile": compile_mode,
            "timeouts": {"job_seconds": 3600},
        }
    )


class Bench:
    def __init__(self, work: Path, dataset: str, epochs: int, threads: int, model: str = "mlp"):
        self.work, self.dataset, self.epochs, self.threads = work, dataset, epochs, threads
        self.model = model
        self.npz = datasets.prepare(dataset, work / "data")
        with np.load(self.npz, allow_pickle=False) as npz:
            self.n_train = len(npz["y_train"])
        self.python = {fw: str(envs.ensure(fw)) for fw in FRAMEWORKS}

    def measure(self, arm: Arm) -> float:
        if arm.kind == "runner":
            return self._runner(arm)
        args = [
            arm.framework,
            "--mode",
            arm.mode,
            "--batch-size",
            str(arm.batch),
            "--threads",
            str(self.threads),
        ]
        if arm.kind == "floor":
            args += ["--train-samples", str(self.n_train)]
        else:
            args += ["--data", str(self.npz), "--epochs", str(self.epochs), "--model", self.model]
        done = self._run([self.python[arm.framework], "benchmarks/minimal_loop.py", *args], arm)
        return float(json.loads(done.stdout.strip().splitlines()[-1])["steady_epoch_seconds"])

    def _runner(self, arm: Arm) -> float:
        spec = paper_spec(arm.framework, self.dataset, self.epochs, self.threads, arm.batch, arm.mode, self.model)
        spec_path, out = self.work / "spec.json", self.work / "report.json"
        spec_path.write_text(spec.model_dump_json())
        out.unlink(missing_ok=True)
        self._run([self.python[arm.framework], "-m", module_for(arm.framework), "--spec", str(spec_path),
                   "--out", str(out), "--data-dir", str(self.work / "data")], arm)  # fmt: skip
        try:
            report = RunReport.model_validate_json(out.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {arm.label}: unreadable report {out}: {str(exc).splitlines()[0]}") from None
        if report.status != "ok" or report.timing is None or report.timing.steady_epoch_seconds is None:
            raise SystemExit(f"error: {arm.label}: runner ended {report.status}: {report.error}")
        return report.timing.steady_epoch_seconds

    @staticmethod
    def _run(cmd: list[str], arm: Arm) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SystemExit(f"error: {arm.label} exited {done.returncode}: {' | '.join(tail)}")
        return done


def arms_for(batches: list[int], model: str = "mlp") -> list[Arm]:
    """The mlp: every mode and the GEMM floor; the cnn: each runner's standard execution against its
    hand loop (the floor times dense GEMMs only)."""
    arms = []
    for b in batches:
        for fw in FRAMEWORKS:
            arms += [Arm(fw, "runner", "none", b), Arm(fw, "hand", "eager", b)]
            if model == "mlp":
                arms += [Arm(fw, "runner", "jit", b), Arm(fw, "hand", "compiled", b)]
        if model == "mlp":
            arms.append(Arm("pytorch", "floor", "gemm-floor", b))
    return arms


def ratio_interval(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Hodges–Lehmann ratio a/b with its exact 95% interval (stats.shifts on log values)."""
    s = stats.shifts(np.log([a]), np.log([b]))
    return math.exp(s.estimate[0]), math.exp(s.lo95[0]), math.exp(s.hi95[0])


def table(samples: dict[Arm, list[float]], batches: list[int]) -> list[str]:
    lines = ["| framework | batch | arm | steady epoch s (median, min–max) | vs hand loop [95% CI] | GEMM floor share |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for b in batches:
        floor_arm = Arm("pytorch", "floor", "gemm-floor", b)
        floor = min(samples[floor_arm]) if floor_arm in samples else math.nan
        for fw in FRAMEWORKS:
            for kind, mode in (
                ("runner", "none"),
                ("hand", "eager"),
                ("runner", "jit"),
                ("hand", "compiled"),
            ):
                values = samples.get(Arm(fw, kind, mode, b))
                if not values:
                    continue
                med = statistics.median(values)
                versus = ""
                if kind == "runner":
                    r, lo, hi = ratio_interval(values, samples[Arm(fw, "hand", YARDSTICK[mode], b)])
                    versus = f"{r:.2f}x [{lo:.2f}–{hi:.2f}] vs hand {YARDSTICK[mode]}"
                name = f'runner, compile = "{mode}"' if kind == "runner" else f"hand loop, {mode}"
                lines.append(f"| {fw} | {b} | {name} | {med:.3f} ({min(values):.3f}–{max(values):.3f}) | "
                             f"{versus} | {'—' if math.isnan(floor) else f'{floor / med:.0%}'} |")  # fmt: skip
        if not math.isnan(floor):
            lines.append(f"| (torch.mm) | {b} | the step's GEMMs alone | {floor:.3f} | | 100% |")
    return lines


def machine_label(threads: int) -> str:
    gemm = subprocess.run([str(envs.ensure("pytorch")), "-m", "runners.gemm", "--framework", "pytorch",
                           "--size", "2048", "--threads", str(threads)],
                          cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    rate = json.loads(gemm.stdout.strip().splitlines()[-1])["gflops"]
    return (f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()}; fp32 GEMM 2048³ with {threads} "
            f"threads (PyTorch): {rate:.0f} GFLOP/s")  # fmt: skip


def save(path: Path, samples: dict[Arm, list[float]], args: argparse.Namespace, machine: str | None) -> None:
    payload = {"machine": machine, "rounds": args.rounds, "epochs": args.epochs, "complete": machine is not None,
               "samples": {a.label: v for a, v in samples.items()}}  # fmt: skip
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def update_readme(path: Path, block: str, model: str = "mlp") -> None:
    begin, end = markers(model)
    text = path.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"error: {path} has no {begin} ... {end} section to replace")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{block}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds (>= 4 for bounded intervals)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per process (steady = median of 2..E)")
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dataset", default="fashion-mnist", help="a 784-feature classification dataset")
    parser.add_argument("--model", choices=MODELS, default="mlp", help="mlp: the paper's; cnn: suites/cnn.toml's")
    parser.add_argument("--out", type=Path, default=None, help="default results/perf-STAMP")
    parser.add_argument("--readme", action="store_true", help="put the table into benchmarks/README.md")
    args = parser.parse_args()
    if args.epochs < 2 or args.rounds < 1:
        parser.error("--epochs must be >= 2 (a steady epoch) and --rounds >= 1")
    batches = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    out = args.out or ROOT / "results" / f"perf-{dt.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(Path(tempfile.mkdtemp(prefix="bench-perf-")), args.dataset, args.epochs, args.threads, args.model)
    arms = arms_for(batches, args.model)
    samples: dict[Arm, list[float]] = {arm: [] for arm in arms}
    for r in range(args.rounds):
        order = arms[r % len(arms) :] + arms[: r % len(arms)]  # rotated: no arm always runs first
        for i, arm in enumerate(order, 1):
            samples[arm].append(bench.measure(arm))
            save(out / "perf.json", samples, args, machine=None)  # nothing measured is lost on a failure
            print(
                f"round {r + 1}/{args.rounds} [{i}/{len(arms)}] {arm.label}: {samples[arm][-1]:.3f} s",
                flush=True,
            )
    label = machine_label(args.threads)
    network = "784-128-128-10" if args.model == "mlp" else "suites/cnn.toml's LeNet-5-like CNN"
    head = (f"Measured {dt.date.today()} on {label}. {args.dataset}, {network}, Adam, {args.threads} "
            f"threads, {args.epochs} epochs per process, {args.rounds} interleaved rounds (`make perf`).")  # fmt: skip
    block = "\n".join([head, "", *table(samples, batches)])
    print("\n" + block)
    write_text_atomic(out / "perf.md", block + "\n")
    save(out / "perf.json", samples, args, machine=label)
    print(f"wrote {out / 'perf.md'}")
    if args.readme:
        update_readme(ROOT / "benchmarks" / "README.md", block, args.model)
        print("updated benchmarks/README.md")


if __name__ == "__main__":
    main()
