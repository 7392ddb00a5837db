"""`bench report RUN_DIR`: re-render everything from stored reports, no training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.errors import cli_errors
from orchestrator.rerender import rerender


def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `bench orchestrate`")],
    keep_contaminated: Annotated[
        bool | None,
        typer.Option(
            "--keep-contaminated/--leave-out-contaminated",
            help="count jobs timed on a busy machine in the verdicts, or not (default: as the run did)",
        ),
    ] = None,
) -> None:
    """Rebuild metrics.csv, tables, plots and report.html from RUN_DIR/specs and RUN_DIR/reports.

    Example: bench report results/paper-20261124-101500
    """
    console = Console()
    with cli_errors(console):
        rendered = rerender(run_dir, keep_contaminated=keep_contaminated)
    for path in rendered.paths:
        console.print(f"wrote {path}", highlight=False)
    console.print(rendered.summary, highlight=False)
    if rendered.wall_time:
        console.print(f"where the wall time went: {rendered.wall_time}", highlight=False)
