"""`bench check`: what on this machine makes timings unstable, with the evidence and the fix.

Advice, not a gate: it always exits 0 (2 only for a usage error, which typer reports itself), so a
script can run it before a benchmark and keep its output beside the results.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.machine import machine_findings

STYLE = {"ok": "green", "warn": "yellow", "info": "dim"}


def check(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON list of findings on stdout")] = False,
) -> None:
    """CPU governor, turbo, SMT, load, swap, memory, thermal state, cgroup limits, GPU clocks.

    Takes about a second (it samples the CPUs' busy time). Example: bench check --json
    """
    findings = machine_findings()
    if as_json:
        typer.echo(json.dumps([asdict(f) for f in findings], indent=2))
        return
    table = Table("status", "finding", "evidence", "fix", title="What may make timings unstable here")
    for f in findings:
        table.add_row(f"[{STYLE[f.status]}]{f.status}[/]", f.name, f.value, f.advice)
    console = Console()
    console.print(table, highlight=False)
    warned = [f.name for f in findings if f.status == "warn"]
    summary = f"{len(warned)} warning(s): {', '.join(warned)}" if warned else "no warnings"
    console.print(f"{summary}; docs/calibration.md explains each check", highlight=False)
