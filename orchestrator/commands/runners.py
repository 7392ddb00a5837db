"""`bench runners list|setup`: which framework runners can run here, and building their envs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator import envs
from runners import FRAMEWORKS

app = typer.Typer(help="Framework runners and their isolated environments.", no_args_is_help=True)


Variant = Annotated[
    str,
    typer.Option(
        help="cpu, or cuda: the CUDA 12 builds a GPU host's jobs use (images/*/requirements-cuda.txt)"
    ),
]


def status(framework: str, variant: str = "cpu") -> tuple[bool, str]:
    req = envs.lock_file(framework, variant)
    if envs.is_current(framework, variant):
        python = envs.venv_python(framework, variant)
        return True, f"venv {python.parent.parent} (lock {envs.lock_hash(framework, variant)[:12]})"
    flag = " --variant cuda" if variant == "cuda" else ""
    hint = (
        f"install with: bench runners setup{flag} {framework}  (pip install -r {req.relative_to(envs.ROOT)})"
    )
    if envs.venv_python(framework, variant).exists():
        return False, f"venv is stale (requirements changed); {hint}"
    return False, f"unavailable: {hint}"


@app.command("list")
def list_(variant: Variant = "cpu") -> None:
    """Each runner: available or why not, with the install hint.

    Example: bench runners list --variant cuda
    """
    _check_variant(variant)
    table = Table("runner", "available", "environment / how to install")
    for fw in FRAMEWORKS:
        ok, text = status(fw, variant)
        table.add_row(fw, "yes" if ok else "no", text)
    table.add_row("fake", "yes", "numpy-only test runner (orchestrator's own Python)")
    Console().print(table)


@app.command()
def setup(
    frameworks: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
    variant: Variant = "cpu",
) -> None:
    """Create (or rebuild when its requirements changed) each runner's virtualenv.

    Example: bench runners setup pytorch; on a GPU host: bench runners setup --variant cuda
    """
    _check_variant(variant)
    console = Console()
    for fw in frameworks or FRAMEWORKS:
        if fw not in FRAMEWORKS:
            console.print(
                f"[red]error:[/] unknown runner {fw!r}; known: {', '.join(FRAMEWORKS)}", highlight=False
            )
            raise typer.Exit(2)
        console.print(f"{fw}: {envs.ensure(fw, log=console.print, variant=variant)}", highlight=False)


def _check_variant(variant: str) -> None:
    """envs' own check, as the command's one-line error (exit 2)."""
    try:
        envs.check_variant(variant)
    except ValueError as exc:
        Console().print(f"[red]error:[/] --variant: {exc}", highlight=False)
        raise typer.Exit(2) from None
