"""The `kovirt` command: one sub-command group per concern, errors shown without tracebacks."""

from __future__ import annotations

import sys

import typer

from kovirt.cli import ceph, controlplane, crds, guest, image, libvirt, nodes, stack
from kovirt.errors import KovirtError

app = typer.Typer(
    name="kovirt",
    help="kovirt: KVM virtual machines on Ceph RBD, declared as Kubernetes resources.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("up")(stack.up)
app.command("down")(stack.down)
app.command("status")(stack.status)
app.command("crds", help="Generate crds/*.yaml from the API models.")(crds.generate)
app.add_typer(controlplane.app, name="controlplane")
app.add_typer(ceph.app, name="ceph")
app.add_typer(libvirt.app, name="libvirt")
app.add_typer(guest.app, name="guest")
app.add_typer(nodes.app, name="nodes")
app.add_typer(image.app, name="image")


def run() -> None:
    """Entry point: turn kovirt's own errors into a message and exit code 2."""
    try:
        app()
    except KovirtError as error:
        typer.secho(f"kovirt: {error}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except TimeoutError as error:  # waits on the local stack say what they waited for
        typer.secho(f"kovirt: {error}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
