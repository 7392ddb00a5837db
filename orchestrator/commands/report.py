"""`bench report RUN_DIR`: re-render everything from stored reports, no training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.results import render_run


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
    if not (run_dir / "specs").is_dir():
        console.print(f"[red]error:[/] {run_dir} is not a run directory (no specs/ inside)", highlight=False)
        raise typer.Exit(2)
    rendered = render_run(run_dir, keep_contaminated=keep_contaminated)
    for path in rendered.paths:
        console.print(f"wrote {path}", highlight=False)
    console.print(rendered.summary, highlight=False)
    if rendered.wall_time:
        console.print(f"where the wall time went: {rendered.wall_time}", highlight=False)
