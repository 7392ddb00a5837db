"""Measure the measurer: each runner and mode against the best hand-written loop of its framework.

    .venvs/dev/bin/python benchmarks/perf.py [--rounds 5] [--epochs 3] [--batch-sizes 32,128]
        [--frameworks pytorch,jax] [--max-train-samples 12000]
    make perf                       # a ~25-28-minute sitting, then the table goes into benchmarks/README.md
    .venvs/dev/bin/python benchmarks/perf.py --model cnn --batch-sizes 64 --rounds 4 --readme
                                    # suites/cnn.toml's LeNet-5: each runner against its hand loop

One process tree, interleaved: every round runs each arm once, in a rotated order, each arm in its
own process (a real runner, `python -m runners.FW`, or `benchmarks/minimal_loop.py`), so drifts of
the machine spread over all arms instead of biasing one. Arms, at each batch size, for every runner
registered in runners.FRAMEWORKS (but "fake") or the --frameworks asked for:

    runner  none         the runner as `bench orchestrate` runs it (compile = "none")
    runner  jit          the same with compile = "jit" (PyTorch: torch.compile of the whole step;
                         Keras: XLA, or torch.compile on the torch backend; JAX: donated buffers)
    runner  jit:tuned    compile = "jit" in the tuning tier "tuned" (schemas/tiers.py)
    hand    eager        minimal_loop.py's standard hand-written loop (benchmarks/loops/FW.py)
    hand    compiled     the framework's documented fastest loop within the same maths
    floor                the step's GEMMs alone at its shapes (torch.mm), per epoch

"none" is held against the hand loop "eager", "jit" of either tier against "compiled" (YARDSTICK).
--max-train-samples trains every arm (runner and hand loop alike, and the floor's step count) on the
same prefix of the training set.

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
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import envs  # noqa: E402
from orchestrator.results import stats  # noqa: E402
from runners import FRAMEWORKS as REGISTERED  # noqa: E402
from runners import datasets, module_for  # noqa: E402
from runners.environment import cpu_model  # noqa: E402
from schemas import JobSpec, RunReport  # noqa: E402
from schemas.common import write_text_atomic  # noqa: E402
from schemas.parse import load_toml  # noqa: E402
from schemas.tiers import Tier, tier_suffix  # noqa: E402

FRAMEWORKS = tuple(fw for fw in REGISTERED if fw != "fake")  # every real runner
MODELS = ("mlp", "cnn")  # the paper's classification network; suites/cnn.toml's LeNet-5-like one
# Which hand loop each runner mode is held against (whatever its tier).
YARDSTICK = {"none": "eager", "jit": "compiled"}
# The rows of one framework at one batch size, in table order: (kind, mode, tier).
ROWS: tuple[tuple[str, str, Tier], ...] = (
    ("runner", "none", "matched"),
    ("hand", "eager", "matched"),
    ("runner", "jit", "matched"),
    ("runner", "jit", "tuned"),
    ("hand", "compiled", "matched"),
)


@dataclass(frozen=True)
class Arm:
    framework: str
    kind: str  # runner | hand | floor
    mode: str  # runner: none | jit; hand: eager | compiled; floor: gemm-floor
    batch: int
    tier: Tier = "matched"  # runner arms only: schemas/tiers.py

    @property
    def label(self) -> str:
        return f"{self.framework} {self.kind} {self.mode}{tier_suffix(self.tier)} b{self.batch}"

    @property
    def name(self) -> str:
        """The arm as the table shows it, its tier visible where it is not "matched"."""
        if self.kind == "runner":
            tier = f', tier = "{self.tier}"' if self.tier != "matched" else ""
            return f'runner, compile = "{self.mode}"{tier}'
        return f"hand loop, {self.mode}"

    @property
    def yardstick(self) -> Arm:
        """The hand loop a runner arm is held against."""
        return Arm(self.framework, "hand", YARDSTICK[self.mode], self.batch)


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
    framework: str,
    dataset: str,
    epochs: int,
    threads: int,
    batch: int,
    compile_mode: str,
    model: str = "mlp",
    tier: str = "matched",
    max_train_samples: int | None = None,
) -> JobSpec:
    """The paper's classification job (784-128-128-10, Adam with Keras's epsilon), or the CNN suite's
    network with the same optimizer; in a tuning tier, on a prefix of the training set."""
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
                "max_train_samples": max_train_samples,
            },
            "seed": 7,
            "repeat": 0,
            "threads": {"intra_op": threads, "inter_op": 1},
            "compile": compile_mode,
            "tier": tier,
            "timeouts": {"job_seconds": 3600},
        }
    )


class Bench:
    def __init__(
        self,
        work: Path,
        dataset: str,
        epochs: int,
        threads: int,
        model: str = "mlp",
        frameworks: tuple[str, ...] = FRAMEWORKS,
        max_train_samples: int | None = None,
    ):
        self.work, self.dataset, self.epochs, self.threads = work, dataset, epochs, threads
        self.model, self.max_train_samples = model, max_train_samples
        self.npz = datasets.prepare(dataset, work / "data")
        with np.load(self.npz, allow_pickle=False) as npz:
            self.n_train = train_rows(len(npz["y_train"]), max_train_samples)
        # The floor is timed with PyTorch's torch.mm whatever frameworks are compared.
        self.python = {fw: str(envs.ensure(fw)) for fw in {*frameworks, "pytorch"}}

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
            if self.max_train_samples is not None:
                args += ["--max-train-samples", str(self.max_train_samples)]
        done = self._run([self.python[arm.framework], "benchmarks/minimal_loop.py", *args], arm)
        return float(json.loads(done.stdout.strip().splitlines()[-1])["steady_epoch_seconds"])

    def _runner(self, arm: Arm) -> float:
        spec = paper_spec(arm.framework, self.dataset, self.epochs, self.threads, arm.batch, arm.mode, self.model,
                          arm.tier, self.max_train_samples)  # fmt: skip
        spec_path, out = self.work / "spec.json", self.work / "report.json"
        spec_path.write_text(spec.model_dump_json())
        out.unlink(missing_ok=True)
        self._run([self.python[arm.framework], "-m", module_for(arm.framework), "--spec", str(spec_path),
                   "--out", str(out), "--data-dir", str(self.work / "data")], arm)  # fmt: skip
        try:
            report = RunReport.model_validate_json(out.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(
                f"error: {arm.label}: unreadable report {out}: {str(exc).splitlines()[0]}"
            ) from None
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


def train_rows(n_train: int, max_train_samples: int | None) -> int:
    """Rows per epoch: the runners' `max_train_samples` prefix (the hand loops and the floor take the same)."""
    return n_train if max_train_samples is None else min(n_train, max_train_samples)


def arms_for(batches: list[int], model: str = "mlp", frameworks: tuple[str, ...] = FRAMEWORKS) -> list[Arm]:
    """The mlp: every mode and tier (ROWS) and the GEMM floor; the cnn: each runner's standard
    execution against its hand loop (the floor times dense GEMMs only)."""
    arms = []
    for b in batches:
        for fw in frameworks:
            arms += [
                Arm(fw, kind, mode, b, tier)
                for kind, mode, tier in ROWS
                if model == "mlp" or mode in ("none", "eager")
            ]
        if model == "mlp":
            arms.append(Arm("pytorch", "floor", "gemm-floor", b))
    return arms


def ratio_interval(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Hodges–Lehmann ratio a/b with its exact 95% interval (stats.shifts on log values)."""
    s = stats.shifts(np.log([a]), np.log([b]))
    return math.exp(s.estimate[0]), math.exp(s.lo95[0]), math.exp(s.hi95[0])


def earlier_samples(path: Path, arms: list[Arm]) -> tuple[dict[Arm, list[float]], int]:
    """A sitting's samples so far (perf.json) for `arms`, and how many whole rounds it holds: the
    rounds added go on with the rotation where it stopped. Refuses a sitting of other arms."""
    try:
        stored = json.loads(path.read_text())["samples"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: --more: cannot read {path}: {exc}") from None
    by_label = {arm.label: arm for arm in arms}
    if not isinstance(stored, dict) or set(stored) != set(by_label):
        raise SystemExit(f"error: --more: {path} holds other arms than these options plan")
    samples = {by_label[label]: [float(v) for v in values] for label, values in stored.items()}
    rounds = min(map(len, samples.values()))  # whole rounds only: a round cut short is run again
    return {arm: values[:rounds] for arm, values in samples.items()}, rounds


def rotated(arms: list[Arm], r: int) -> list[Arm]:
    """Round r's order: every arm once, starting one later each round (no arm always runs first)."""
    k = r % len(arms)
    return arms[k:] + arms[:k]


def table(samples: dict[Arm, list[float]], batches: list[int]) -> list[str]:
    lines = ["| framework | batch | arm | steady epoch s (median, min–max) | vs hand loop [95% CI] | GEMM floor share |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for b in batches:
        floor_arm = Arm("pytorch", "floor", "gemm-floor", b)
        floor = min(samples[floor_arm]) if floor_arm in samples else math.nan
        for fw in dict.fromkeys(a.framework for a in samples if a.kind != "floor"):
            for kind, mode, tier in ROWS:
                arm = Arm(fw, kind, mode, b, tier)
                values = samples.get(arm)
                if not values:
                    continue
                med = statistics.median(values)
                versus = ""
                if kind == "runner" and samples.get(arm.yardstick):
                    r, lo, hi = ratio_interval(values, samples[arm.yardstick])
                    versus = f"{r:.2f}x [{lo:.2f}–{hi:.2f}] vs hand {arm.yardstick.mode}"
                lines.append(f"| {fw} | {b} | {arm.name} | {med:.3f} ({min(values):.3f}–{max(values):.3f}) | "
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
               "frameworks": args.frameworks, "max_train_samples": args.max_train_samples,
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
    parser.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="a subset of " + ",".join(FRAMEWORKS)
    )
    parser.add_argument(
        "--max-train-samples",
        type=int,
        default=None,
        help="train every arm on the first N rows (default: all)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dataset", default="fashion-mnist", help="a 784-feature classification dataset")
    parser.add_argument(
        "--model", choices=MODELS, default="mlp", help="mlp: the paper's; cnn: suites/cnn.toml's"
    )
    parser.add_argument("--out", type=Path, default=None, help="default results/perf-STAMP")
    parser.add_argument("--readme", action="store_true", help="put the table into benchmarks/README.md")
    parser.add_argument(
        "--more",
        action="store_true",
        help="add --rounds rounds to the sitting in --out (its perf.json; same options), e.g. after a "
        "sitting with too few rounds or one cut short",
    )
    args = parser.parse_args()
    if args.more and args.out is None:
        parser.error("--more needs --out, the sitting's directory")
    if args.epochs < 2 or args.rounds < 1:
        parser.error("--epochs must be >= 2 (a steady epoch) and --rounds >= 1")
    if args.max_train_samples is not None and args.max_train_samples < 1:
        parser.error("--max-train-samples must be >= 1")
    frameworks = tuple(fw.strip() for fw in args.frameworks.split(",") if fw.strip())
    unknown = sorted(set(frameworks) - set(FRAMEWORKS))
    if unknown or not frameworks:
        parser.error(
            f"--frameworks: {', '.join(unknown) or 'none given'}; choose from {', '.join(FRAMEWORKS)}"
        )
    batches = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    out = args.out or ROOT / "results" / f"perf-{dt.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(Path(tempfile.mkdtemp(prefix="bench-perf-")), args.dataset, args.epochs, args.threads, args.model,
                  frameworks, args.max_train_samples)  # fmt: skip
    arms = arms_for(batches, args.model, frameworks)
    samples: dict[Arm, list[float]] = {arm: [] for arm in arms}
    done = 0
    if args.more:
        samples, done = earlier_samples(out / "perf.json", arms)
        args.rounds += done  # the table and perf.json count every round of the sitting
    for r in range(done, args.rounds):
        round_start = time.perf_counter()
        for i, arm in enumerate(rotated(arms, r), 1):
            arm_start = time.perf_counter()
            samples[arm].append(bench.measure(arm))
            save(out / "perf.json", samples, args, machine=None)  # nothing measured is lost on a failure
            print(
                f"round {r + 1}/{args.rounds} [{i}/{len(arms)}] {arm.label}: {samples[arm][-1]:.3f} s "
                f"(process {time.perf_counter() - arm_start:.0f} s)",
                flush=True,
            )
        print(f"round {r + 1}/{args.rounds} took {time.perf_counter() - round_start:.0f} s", flush=True)
    label = machine_label(args.threads)
    network = "784-128-128-10" if args.model == "mlp" else "suites/cnn.toml's LeNet-5-like CNN"
    rows = f"the first {bench.n_train:,} training rows" if args.max_train_samples else "all training rows"
    head = (f"Measured {dt.date.today()} on {label}. {args.dataset} ({rows}), {network}, Adam, {args.threads} "
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
