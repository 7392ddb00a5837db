"""`bench datasets list|fetch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from runners import datasets
from schemas.datasets import CATALOG

app = typer.Typer(
    help="Datasets every runner reads, prepared once into float32 .npz files.", no_args_is_help=True
)


@app.command("list")
def list_() -> None:
    """Show the known datasets.

    Example: bench datasets list
    """
    table = Table("name", "task", "features", "outputs", "what")
    for info in CATALOG.values():
        table.add_row(info.name, info.task, str(info.n_features), str(info.n_outputs), info.description)
    Console().print(table)


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="dataset name (see `bench datasets list`)")],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="where the .npz goes (default $BENCH_DATA_DIR or ~/.cache/bench/data: where runners look)"
        ),
    ] = None,
) -> None:
    """Download or locate, verify, decode, split and standardize NAME into DATA_DIR/NAME.npz.

    Example: bench datasets fetch fashion-mnist
    """
    console = Console()
    try:
        path = datasets.prepare(name, data_dir or datasets.default_data_dir())
        arrays = datasets.load(path)
    except datasets.DatasetError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    console.print(
        f"{path}: {len(arrays.x_train)} train / {len(arrays.x_val)} validation rows, "
        f"sha256 {arrays.sha256()[:16]}",
        highlight=False,
    )
