"""`kovirt up|down|status`: the whole local stack at once, on real nodes or as processes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from kovirt.localstack.nodes_stack import NodesStack
from kovirt.localstack.stack import Stack


class Mode(StrEnum):
    NODES = "nodes"
    PROCESSES = "processes"


def _say(message: str) -> None:
    typer.echo(message, err=True)


NEXT_STEPS = {
    Mode.NODES: """
kovirt is running on real nodes (installed by its Helm chart). Try:
  eval "$(kovirt nodes env)"               # the matching kubectl and the kubeconfig
  kubectl get nodes; kubectl get pods -n kovirt-system -o wide
  kubectl get kovirt -A                    # every kovirt object, with its state
  kubectl get kvm -n demo demo -o wide     # the sample VM, its host and disks
  kubectl logs -n kovirt-system -l app.kubernetes.io/component=agent
  kubectl delete kvm -n demo demo          # removes the guest and its RBD images
  kovirt status | kovirt down              # what runs | stop everything
""",
    Mode.PROCESSES: """
kovirt is running as host processes. Try:
  eval "$(kovirt controlplane env)"        # the matching kubectl and the kubeconfig
  kubectl get kovirt -A                    # every kovirt object, with its state
  kubectl get kvm -n demo demo -o wide     # the sample VM, its host and disks
  kubectl describe sd data                 # a storage domain: pool, usage, events
  cat "$(kubectl get kvm -n demo demo -o jsonpath='{.status.runtime.consoleLog}')"
  kubectl delete kvm -n demo demo          # removes the guest and its RBD images
  kovirt status | kovirt down              # what runs | stop everything
""",
}

MODE_HELP = (
    "nodes: a control plane, real nodes (kubelet + containerd) and kovirt installed by its "
    "Helm chart (the default: what users run). processes: operator, agent and libvirtd as "
    "plain processes (faster; what most tests use)."
)


def up(
    mode: Annotated[Mode, typer.Option(help=MODE_HELP)] = Mode.NODES,
    nodes: Annotated[int | None, typer.Option(help="Nodes in nodes mode (default 2).")] = None,
    examples: Annotated[
        bool,
        typer.Option(
            "--examples/--no-examples",
            help="Apply examples/ and wait until the sample VM runs.",
        ),
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sample VM to run.")] = 600,
) -> None:
    """Bring up the local stack (idempotent) and, with examples, run the sample VM."""
    if mode == Mode.NODES:
        NodesStack(say=_say, nodes=nodes).up(examples=examples, timeout_s=timeout)
    else:
        Stack(say=_say).up(examples=examples, timeout_s=timeout)
    if examples:
        typer.echo(NEXT_STEPS[mode])


def down(
    keep_state: Annotated[
        bool,
        typer.Option(
            "--keep-state", help="Keep etcd and Ceph data (memstore OSDs may lose it anyway)."
        ),
    ] = False,
    mode: Annotated[
        Mode | None, typer.Option(help="Only this mode's stack (default: whatever runs).")
    ] = None,
) -> None:
    """Stop everything `kovirt up` started and forget its data (the stack is disposable)."""
    if mode in (None, Mode.NODES):
        for name in NodesStack(say=_say).down(keep_state=keep_state):
            typer.echo(f"stopped {name}")
    if mode in (None, Mode.PROCESSES):
        for name in Stack(say=_say).down(keep_state=keep_state):
            typer.echo(f"stopped {name}")


def status() -> None:
    """Show what of the local stack runs, in both modes."""
    typer.echo("== real nodes (kovirt up --mode nodes)")
    for name, state in NodesStack(say=_say).status():
        typer.echo(f"{name:16} {state}")
    typer.echo("== host processes (kovirt up --mode processes)")
    for name, state in Stack(say=_say).status():
        typer.echo(f"{name:16} {state}")
