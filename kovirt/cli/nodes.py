"""`kovirt nodes ...`: real Kubernetes nodes (containerd + kubelet + kube-proxy) on this machine."""

from __future__ import annotations

import os
import shlex

import typer

from kovirt.localstack import binaries
from kovirt.localstack.nodes import DEFAULT_NODES, NodeStack

app = typer.Typer(
    help=(
        "Real nodes: each a network namespace with its own containerd, kubelet and kube-proxy, "
        "joined to a control plane (with scheduler) listening on the nodes' bridge."
    ),
    no_args_is_help=True,
)


def _echo(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def up(
    count: int = typer.Option(DEFAULT_NODES, "--nodes", "-n", help="How many nodes."),
) -> None:
    """Build what is missing, start the control plane and the nodes; wait for Ready."""
    result = NodeStack(count, echo=_echo).up()
    typer.echo(f"nodes: {', '.join(result.nodes)}")
    typer.echo(f"kubeconfig: {result.kubeconfig}")
    typer.echo(f"up in {result.seconds:.0f}s")


@app.command()
def down() -> None:
    """Stop everything `up` started and remove what it made (images stay cached)."""
    stack = NodeStack(echo=_echo)
    done = stack.down()
    typer.echo(f"stopped: {', '.join(done)}" if done else "nothing was running")
    left = stack.leftovers()
    if left:
        typer.echo(f"left behind: {', '.join(left)}", err=True)
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """Show each node's processes and readiness; exit 1 unless all are Ready."""
    stack = NodeStack(echo=_echo)
    nodes = stack.status()
    for node in nodes:
        ready = {True: "Ready", False: "NotReady", None: "unknown"}[node.ready]
        pids = " ".join(f"{name}={pid or '-'}" for name, pid in node.pids.items())
        typer.echo(f"{node.name:<12} {node.ip:<14} {ready:<9} {pids}")
    typer.echo(f"kubeconfig: {stack.kubeconfig}")
    if not all(node.ready for node in nodes):
        raise typer.Exit(1)


@app.command()
def stop(node: str = typer.Argument(..., help="A node name, e.g. kv-node-2.")) -> None:
    """Kill one node as a host crash would (kubelet, kube-proxy, containerd, its pods)."""
    stopped = NodeStack(echo=_echo).stop_node(node)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def start(node: str = typer.Argument(..., help="A node name, e.g. kv-node-2.")) -> None:
    """Start a stopped node again; it turns Ready with its pods."""
    NodeStack(echo=_echo).start_node(node)
    typer.echo(f"started: {node}")


@app.command()
def kubeconfig() -> None:
    """Print the path of the admin kubeconfig of the nodes' control plane."""
    typer.echo(NodeStack(echo=_echo).kubeconfig)


@app.command()
def env() -> None:
    """Print exports for KUBECONFIG and the pinned kubectl: eval "$(kovirt nodes env)"."""
    bin_dir = binaries.binaries().kubectl_dir
    path = shlex.quote(str(bin_dir)) + os.pathsep + "$PATH"
    config = shlex.quote(str(NodeStack(echo=_echo).kubeconfig))
    typer.echo(f"export KUBECONFIG={config}; export PATH={path}")
