"""`kovirt image ...`: build kovirt's container images without Docker (mmdebstrap + umoci)."""

from __future__ import annotations

import typer

from kovirt.localstack import images

app = typer.Typer(
    help=(
        "Container images built without Docker: kovirt (Debian rootfs with the Dockerfile's "
        "package list + the kovirt wheel) and the pod sandbox (pause), cached by content."
    ),
    no_args_is_help=True,
)


def _echo(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def build() -> None:
    """Build the images whose inputs changed, reuse the rest; print ref and archive."""
    built = images.ensure_images(_echo)
    for image in built.all():
        typer.echo(f"{image.ref} {image.archive}")


@app.command()
def list_() -> None:
    """Show which images the current inputs make and whether they are built."""
    for image in images.planned_images().all():
        state = "built" if image.is_complete() else "not built"
        typer.echo(f"{image.ref:<48} {state:<10} {image.archive}")


app.command(name="list")(list_)
