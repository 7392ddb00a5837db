"""`bench runners list|setup`: which framework runners can run here, and building their envs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator import envs
from runners import FRAMEWORKS

app = typer.Typer(help="Framework runners and their isolated environments.", no_args_is_help=True)


def status(framework: str) -> tuple[bool, str]:
    req = envs.requirements_file(framework)
    if envs.is_current(framework):
        return (
            True,
            f"venv {envs.venv_python(framework).parent.parent} (lock {envs.lock_hash(framework)[:12]})",
        )
    hint = f"install with: bench runners setup {framework}  (pip install -r {req.relative_to(envs.ROOT)})"
    if envs.venv_python(framework).exists():
        return False, f"venv is stale (requirements changed); {hint}"
    return False, f"unavailable: {hint}"


@app.command("list")
def list_() -> None:
    """Each runner: available or why not, with the install hint.

    Example: bench runners list
    """
    table = Table("runner", "available", "environment / how to install")
    for fw in FRAMEWORKS:
        ok, text = status(fw)
        table.add_row(fw, "yes" if ok else "no", text)
    table.add_row("fake", "yes", "numpy-only test runner (orchestrator's own Python)")
    Console().print(table)


@app.command()
def setup(
    frameworks: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
) -> None:
    """Create (or rebuild when its requirements changed) each runner's virtualenv.

    Example: bench runners setup pytorch
    """
    console = Console()
    for fw in frameworks or FRAMEWORKS:
        if fw not in FRAMEWORKS:
            console.print(
                f"[red]error:[/] unknown runner {fw!r}; known: {', '.join(FRAMEWORKS)}", highlight=False
            )
            raise typer.Exit(2)
        console.print(f"{fw}: {envs.ensure(fw, log=console.print)}", highlight=False)
