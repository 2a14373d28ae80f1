"""`kovirt up|down|status`: the whole local stack at once."""

from __future__ import annotations

from typing import Annotated

import typer

from kovirt.localstack.stack import Stack


def _say(message: str) -> None:
    typer.echo(message, err=True)


NEXT_STEPS = """
kovirt is running. Try:
  eval "$(kovirt controlplane env)"        # the matching kubectl and the kubeconfig
  kubectl get kovirt -A                    # every kovirt object, with its state
  kubectl get kvm -n demo demo -o wide     # the sample VM, its host and disks
  kubectl describe sd data                 # a storage domain: pool, usage, events
  cat "$(kubectl get kvm -n demo demo -o jsonpath='{.status.runtime.consoleLog}')"
  kubectl delete kvm -n demo demo          # removes the guest and its RBD images
  kovirt status | kovirt down              # what runs | stop everything
"""


def up(
    examples: Annotated[
        bool,
        typer.Option(
            "--examples/--no-examples",
            help="Apply examples/, start the sample host's agent and wait for the VM.",
        ),
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sample VM to run.")] = 600,
) -> None:
    """Bring up the local stack (idempotent): control plane, Ceph, libvirt, operator, agent."""
    Stack(say=_say).up(examples=examples, timeout_s=timeout)
    if examples:
        typer.echo(NEXT_STEPS)


def down(
    keep_state: Annotated[
        bool,
        typer.Option(
            "--keep-state", help="Keep etcd and Ceph data (memstore OSDs may lose it anyway)."
        ),
    ] = False,
) -> None:
    """Stop everything `kovirt up` started and forget its data (the stack is disposable)."""
    for name in Stack(say=_say).down(keep_state=keep_state):
        typer.echo(f"stopped {name}")


def status() -> None:
    """Show what of the local stack runs."""
    for name, state in Stack(say=_say).status():
        typer.echo(f"{name:16} {state}")
