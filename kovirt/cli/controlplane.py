"""`kovirt controlplane ...`: build, start, stop and show the local Kubernetes control plane."""

from __future__ import annotations

import os
import shlex

import typer

from kovirt.localstack import binaries
from kovirt.localstack.controlplane import ControlPlane

app = typer.Typer(
    help=(
        "The local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager "
        "built from pinned Go modules, running as plain processes on 127.0.0.1."
    ),
    no_args_is_help=True,
)


def _echo(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def build() -> None:
    """Build or reuse etcd, kube-apiserver, -controller-manager, -scheduler and kubectl."""
    paths = binaries.ensure_built(_echo)
    typer.echo(paths.kubectl_dir)
    typer.echo(paths.etcd.parent)


@app.command()
def up() -> None:
    """Start the control plane (reused when running), print seconds to /readyz."""
    result = ControlPlane(echo=_echo).up()
    typer.echo(f"server: {result.server}")
    typer.echo(f"kubeconfig: {result.kubeconfig}")
    if result.started:
        typer.echo(f"warm start: {result.ready_s:.1f}s to /readyz")


@app.command()
def down() -> None:
    """Stop the processes `up` started, API server before etcd; data is kept."""
    stopped = ControlPlane(echo=_echo).down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status() -> None:
    """Show pids, server address and readiness; exit 1 when not ready."""
    state = ControlPlane(echo=_echo).status()
    for component in state.components:
        shown = f"running (pid {component.pid})" if component.pid else "stopped"
        typer.echo(f"{component.name:<24} {shown}")
    typer.echo(f"{'server':<24} {state.server or '-'}")
    typer.echo(f"{'ready':<24} {'yes' if state.ready else 'no'}")
    typer.echo(f"{'kubeconfig':<24} {state.kubeconfig}")
    if not state.ready:
        raise typer.Exit(1)


@app.command()
def kubeconfig() -> None:
    """Print the path of the admin kubeconfig."""
    typer.echo(ControlPlane(echo=_echo).kubeconfig)


@app.command()
def env() -> None:
    """Print exports for KUBECONFIG and the pinned kubectl: eval "$(kovirt controlplane env)"."""
    plane = ControlPlane(echo=_echo)
    bin_dir = binaries.binaries().kubectl_dir
    path = shlex.quote(str(bin_dir)) + os.pathsep + "$PATH"
    typer.echo(f"export KUBECONFIG={shlex.quote(str(plane.kubeconfig))}; export PATH={path}")
