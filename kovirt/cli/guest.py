"""`kovirt guest ...`: build the test guest (kernel, initramfs, bootable disk image)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kovirt.guest import build_test_guest
from kovirt.localstack.paths import cache_dir

app = typer.Typer(
    help="The test guest: a tiny Linux from Debian packages that prints, writes a marker, ends.",
    no_args_is_help=True,
)


@app.command()
def build(
    force: Annotated[
        bool, typer.Option(help="Rebuild even when the cache has this content.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the paths as JSON.")] = False,
) -> None:
    """Build (or reuse from the cache) the test guest and print the paths."""
    artifacts = build_test_guest(cache_dir("guest"), force=force)
    if as_json:
        typer.echo(json.dumps(artifacts.as_dict(), indent=2))
        return
    typer.echo(f"kernel      {artifacts.kernel}")
    typer.echo(f"initramfs   {artifacts.initramfs}")
    typer.echo(f"disk image  {artifacts.disk_image}")
    typer.echo(f"kernel ver  {artifacts.kernel_version}")
