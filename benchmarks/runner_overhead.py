"""Does a runner measure the framework or itself? Runner vs minimal hand-written loop, same run.

    .venvs/dev/bin/python benchmarks/runner_overhead.py [--dataset fashion-mnist] [--epochs 3]

For each framework (interleaved), runs the real runner on the paper's classification job and then
benchmarks/minimal_loop.py with the same settings, and prints steady-state epoch seconds, the ratio
runner / minimal (target: <= 1.2) and validation accuracy. Uses the runner venvs (`make runners`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import envs  # noqa: E402
from runners import datasets  # noqa: E402
from schemas import JobSpec, RunReport  # noqa: E402


def paper_spec(framework: str, dataset: str, epochs: int, threads: int) -> JobSpec:
    return JobSpec.model_validate(
        {
            "framework": framework,
            "workload": {
                "task": "classification",
                "dataset": dataset,
                "layers": [
                    {"units": 128, "activation": "relu"},
                    {"units": 128, "activation": "relu"},
                    {"units": 10, "activation": "linear"},
                ],
                "loss": "cross_entropy",
                "optimizer": {
                    "name": "adam",
                    "learning_rate": 1e-3,
                    "beta_1": 0.9,
                    "beta_2": 0.999,
                    "epsilon": 1e-7,
                },
                "batch_size": 32,
                "epochs": epochs,
            },
            "seed": 7,
            "repeat": 0,
            "threads": {"intra_op": threads, "inter_op": 1},
            "timeouts": {"job_seconds": 3600},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    npz = datasets.prepare(args.dataset, work / "data")
    rows = []
    for fw in ("pytorch", "tensorflow"):
        py = str(envs.ensure(fw))
        spec_path, out = work / f"{fw}.json", work / f"{fw}-report.json"
        spec_path.write_text(paper_spec(fw, args.dataset, args.epochs, args.threads).model_dump_json())
        subprocess.run(
            [
                py,
                "-m",
                f"runners.{fw}",
                "--spec",
                str(spec_path),
                "--out",
                str(out),
                "--data-dir",
                str(work / "data"),
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        report = RunReport.model_validate_json(out.read_text())
        minimal = json.loads(
            subprocess.run(
                [
                    py,
                    "benchmarks/minimal_loop.py",
                    fw,
                    "--data",
                    str(npz),
                    "--epochs",
                    str(args.epochs),
                    "--threads",
                    str(args.threads),
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        runner_s = report.timing.steady_epoch_seconds
        rows.append(
            (
                fw,
                runner_s,
                minimal["steady_epoch_seconds"],
                runner_s / minimal["steady_epoch_seconds"],
                report.epochs[-1].val_metric,
                minimal["val_accuracy"],
            )
        )
    print(
        f"{args.dataset}, 784-128-128-10, Adam 1e-3, batch 32, {args.epochs} epochs, {args.threads} threads"
    )
    print(
        f"{'framework':<11} {'runner s/epoch':>15} {'minimal s/epoch':>16} {'ratio':>6} {'runner val acc':>15} {'minimal val acc':>16}"
    )
    for fw, r, m, ratio, ra, ma in rows:
        print(f"{fw:<11} {r:>15.3f} {m:>16.3f} {ratio:>6.2f} {ra:>15.4f} {ma:>16.4f}")


if __name__ == "__main__":
    main()
