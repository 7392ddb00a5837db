"""`bench schema`: print or write the JSON Schemas of the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from schemas.export import EXPORTED, render, write_all


def schema(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(EXPORTED)}")] = "job_spec",
    write: Annotated[Path | None, typer.Option(help="write every schema file into this directory")] = None,
) -> None:
    """Print one JSON Schema, or write them all with --write DIR.

    Example: bench schema run_report
    """
    if write is not None:
        try:
            written = write_all(write)
        except FileExistsError:  # mkdir's word for "a file is where the directory should be"
            typer.echo(f"error: cannot write schemas to {write}: it is a file, not a directory", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # under a file, no permission, a full disk
            where = exc.filename or write
            typer.echo(f"error: cannot write schemas to {write}: {exc.strerror or exc}: {where}", err=True)
            raise typer.Exit(2) from None
        for path in written:
            typer.echo(f"wrote {path}")
        return
    if name not in EXPORTED:
        typer.echo(f"error: unknown schema {name!r}; known: {', '.join(EXPORTED)}", err=True)
        raise typer.Exit(2)
    typer.echo(render(EXPORTED[name]), nl=False)
