"""`bench calibrate`: measure what this machine can do and store it per hardware class.

The heavy part (each framework's GEMM) runs in that framework's runner environment, built on first
use like `bench runners setup`; numpy's runs in bench's own interpreter.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from subprocess import CalledProcessError
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator import calibration, envs, machine
from orchestrator.calibration import Calibration
from runners import FRAMEWORKS

AA_NOT_MEASURED = "A/A floor: not measured (bench calibrate --aa)"


def calibrate(
    show: Annotated[
        bool, typer.Option("--show", help="print the stored calibration; measure nothing")
    ] = False,
    size: Annotated[
        list[int] | None, typer.Option(help="GEMM matrix side, repeatable (default: 512 and 2048)")
    ] = None,
    repeats: Annotated[int, typer.Option(help="timed repeats per GEMM; the best counts", min=1, max=100)] = 5,
    aa: Annotated[
        bool,
        typer.Option(
            "--aa",
            help="also measure the A/A noise floor: suites/aa.toml, each framework 10 times against "
            "itself (a few minutes); the verdicts' margin becomes max(5%, the floor)",
        ),
    ] = False,
) -> None:
    """fp32 GEMM rate per framework (its own environment), memory bandwidth, timer resolution.

    Stored under $BENCH_CALIBRATION_DIR or ~/.cache/bench/calibration/. Example: bench calibrate
    """
    console = Console()
    if show:
        stored = calibration.load_calibration(warn=lambda line: console.print(line, highlight=False))
        if stored is None:
            console.print(f"not calibrated: no usable {calibration.store_path()}; run bench calibrate")
            raise typer.Exit(1)
        _print(console, stored, calibration.store_path(stored.hardware))
        return
    sizes = size or [512, 2048]
    if any(not 16 <= s <= 8192 for s in sizes):
        console.print("[red]error:[/] --size must be between 16 and 8192", highlight=False)
        raise typer.Exit(2)
    start = time.monotonic()
    pythons: dict[str, str] = {"numpy": sys.executable}
    notes: list[str] = []
    for fw in FRAMEWORKS:
        try:
            pythons[fw] = str(envs.ensure(fw, log=lambda line: console.print(line, highlight=False)))
        except (OSError, CalledProcessError) as exc:
            notes.append(f"{fw}: unavailable (bench runners setup {fw}): {exc}")
    threads = os.cpu_count() or 1  # the suites' default intra-op threads ("auto")
    log = lambda line: console.print(f"[dim]{line}[/]", highlight=False)  # noqa: E731
    result = calibration.measure(pythons, sizes, threads, repeats, log=log, notes=notes)
    if aa:
        try:
            floor, aa_run = calibration.run_aa(log)
        except calibration.CalibrationError as exc:
            console.print(f"[red]A/A run failed:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        if floor is None:
            result = result.model_copy(
                update={"notes": [*result.notes, f"A/A: too few clean repeats in {aa_run}"]}
            )
        result = result.model_copy(update={"aa_floor": floor, "aa_run": str(aa_run)})
    try:
        path = calibration.save(result)
    except OSError as exc:
        console.print(f"[red]error:[/] cannot store the calibration: {exc.strerror or exc}: {exc.filename}")
        raise typer.Exit(1) from None
    _print(console, result, path)
    console.print(f"calibrated in {time.monotonic() - start:.1f} s", highlight=False)


def _print(console: Console, cal: Calibration, path: Path) -> None:
    table = Table("measurement", title=f"Calibration of {cal.hardware} ({cal.measured_at})")
    table.add_column("value", overflow="fold")  # a store path stays whole on a narrow terminal
    for rate in cal.gemm:
        name = f"GEMM fp32 {rate.framework} {rate.version}, {rate.size}x{rate.size}, {rate.threads} thr"
        table.add_row(name, f"{rate.gflops:.1f} GFLOP/s ({rate.seconds * 1e3:.2f} ms per multiply)")
    bandwidth = cal.memory_bandwidth_gbs
    table.add_row("memory bandwidth (copy)", f"{bandwidth:.1f} GB/s (read + write)" if bandwidth else "-")
    if cal.timer is not None:
        step, stated = cal.timer.smallest_step * 1e9, cal.timer.stated_resolution * 1e9
        table.add_row("timer perf_counter", f"smallest step {step:.0f} ns; clock says {stated:g} ns")
        table.add_row("", cal.timer.implementation)
    floor = "not measured" if cal.aa_floor is None else f"{cal.aa_floor:.1%}"
    table.add_row("A/A noise floor", floor)
    table.add_row("equivalence margin", f"±{calibration.margin(cal):.1%} (max of 5% and the A/A floor)")
    table.add_row("load before measuring", cal.load_before)
    busy = cal.outside_busy
    table.add_row("other work while measuring", "unknown" if busy is None else f"{busy:.0%} of all CPU time")
    for note in cal.notes:
        table.add_row("[yellow]not measured[/]", note)
    table.add_row("stored", str(path))
    console.print(table, highlight=False)
    if cal.aa_floor is None:
        console.print(AA_NOT_MEASURED, highlight=False)
    if cal.outside_busy is not None and cal.outside_busy > machine.BUSY_SHARE:
        console.print(
            f"[yellow]warning:[/] other processes used {cal.outside_busy:.0%} of the CPUs while measuring: "
            "these rates read low; rerun bench calibrate when bench check shows a quiet machine",
            highlight=False,
        )
