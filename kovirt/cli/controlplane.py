"""`kovirt controlplane ...`: build, start, stop and show the local Kubernetes control plane."""

import typer

app = typer.Typer(help="The local Kubernetes control plane (etcd, kube-apiserver, ...).",
                  no_args_is_help=True)


@app.command()
def build() -> None:
    """Build (or reuse cached) control-plane binaries from the pinned Go modules."""
    raise NotImplementedError
