"""`bench images build|list`: the docker backend's runner images (one per framework and variant)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Runner images for the docker backend (see docs/docker.md).", no_args_is_help=True)


class Variant(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


def _client(console: Console, timeout: float | None):  # type: ignore[no-untyped-def]
    from orchestrator.backends.docker_images import EngineUnavailable, connect

    try:
        return connect(timeout=timeout)
    except EngineUnavailable as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}; start dockerd or set DOCKER_HOST", highlight=False)
        raise typer.Exit(1) from None


@app.command()
def build(
    framework: Annotated[
        list[str] | None, typer.Option("--framework", "-f", help="repeatable; default: every image")
    ] = None,
    variant: Annotated[Variant, typer.Option(help="cpu: CPU builds; cuda: CUDA builds")] = Variant.cpu,
    base_image: Annotated[
        str | None,
        typer.Option(
            help="FROM image (default python:3.11-slim); with no registry: bench-base:bookworm "
            "(make base-image)"
        ),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(help="folder of wheels pip may take first (--find-links): air-gapped builds"),
    ] = None,
    offline: Annotated[
        bool, typer.Option(help="install from the wheelhouse only, never contact an index")
    ] = False,
    ca_bundle: Annotated[
        Path | None, typer.Option(help="extra CA bundle for pip (a proxy that re-signs TLS)")
    ] = None,
    network: Annotated[
        str | None, typer.Option(help="network of the build's RUN steps, e.g. host (default: the engine's)")
    ] = None,
    no_cache: Annotated[bool, typer.Option(help="ignore the layer cache")] = False,
    context_dir: Annotated[
        Path | None,
        typer.Option(help="stage the build context here and keep it (one framework only)"),
    ] = None,
) -> None:
    """Build bench-<framework>:<variant> from images/runner.Dockerfile, labelled with the
    requirements and runner-source hashes (a stale image is refused at run time).

    Example: bench images build --base-image bench-base:bookworm --wheelhouse /opt/wheels
    """
    from orchestrator.backends.docker_images import (
        ImageBuildError,
        build_image,
        frameworks_with_images,
    )

    console = Console()
    known = frameworks_with_images()
    chosen = framework or list(known)
    unknown = [f for f in chosen if f not in known]
    if unknown:
        console.print(f"[red]error:[/] no image for {', '.join(unknown)}; known: {', '.join(known)}")
        raise typer.Exit(2)
    if offline and wheelhouse is None:
        console.print("[red]error:[/] --offline needs --wheelhouse (pip has nothing else to install from)")
        raise typer.Exit(2)
    if context_dir is not None and len(chosen) > 1:
        console.print("[red]error:[/] --context-dir stages one framework: add --framework")
        raise typer.Exit(2)
    client = _client(console, timeout=None)  # a quiet pip download can outlast any read timeout
    for fw in chosen:
        console.print(f"[bold]building bench-{fw}:{variant.value}[/]", highlight=False)
        try:
            build_image(
                client,
                fw,
                variant.value,
                base_image=base_image,
                wheelhouse=wheelhouse,
                ca_bundle=ca_bundle,
                offline=offline,
                network=network,
                no_cache=no_cache,
                context_dir=context_dir,
                log=lambda line: console.print(escape(line), highlight=False, soft_wrap=True),
            )
        except (ImageBuildError, FileNotFoundError, FileExistsError) as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None


@app.command("list")
def list_() -> None:
    """What is built, with digests, and whether each image matches this checkout.

    Example: bench images list
    """
    from orchestrator.backends.docker_images import (
        VARIANTS,
        find_image,
        frameworks_with_images,
        image_tag,
        staleness,
    )

    console = Console()
    if not console.is_terminal:  # full digests, never wrapped, when piped
        console = Console(width=240)
    client = _client(console, timeout=30)
    table = Table("image", "digest", "created (UTC)", "size", "state")
    for fw in frameworks_with_images():
        for variant in VARIANTS:
            info = find_image(client, image_tag(fw, variant))
            if info is None:
                if variant == "cpu":
                    table.add_row(image_tag(fw, variant), "-", "-", "-", "not built: bench images build")
                continue
            reason = staleness(info.labels, fw, variant)
            state = f"[yellow]stale: {escape(reason)}[/]" if reason else "[green]current[/]"
            table.add_row(info.tag, info.digest, info.created, f"{info.size_bytes / 1e9:.2f} GB", state)
    console.print(table)
