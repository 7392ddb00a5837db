"""`bench compare RUN_A RUN_B`: per task, arm and criterion, B/A with its interval and a flag."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.results.compare import CompareError, compare_runs, comparison_table, summary_line


def compare(
    run_a: Annotated[Path, typer.Argument(help="the baseline run directory (A)")],
    run_b: Annotated[Path, typer.Argument(help="the run to judge against it (B)")],
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="exit 1 when any regression is flagged (CI)")
    ] = False,
    allow_mixed_hardware: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-hardware",
            help="compare runs from different hardware classes anyway; every line is labelled mixed",
        ),
    ] = False,
) -> None:
    """Flag regressions and improvements from RUN_A to RUN_B (two versions, machines or dates).

    A line is flagged when the 95% interval of the ratio B/A excludes 1 and the ratio lies beyond the
    margin (the larger of the two runs' recorded margins); everything else is "no change".

    Example: bench compare results/paper-20261124-101500 results/paper-20261201-093000 --fail-on-regression
    """
    # soft_wrap: a table row or an error is one line whatever the terminal's width (CI logs, grep).
    console = Console(highlight=False, soft_wrap=True)
    try:
        comparison = compare_runs(run_a, run_b, allow_mixed_hardware)
    except CompareError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    console.print(comparison_table(comparison).markdown(), markup=False)
    console.print(summary_line(comparison), markup=False)
    if fail_on_regression and comparison.regressions:
        raise typer.Exit(1)
