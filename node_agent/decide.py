"""Decide first, then act (kubevirt's sync): what one VM's domain should undergo now.

A pure function of the VM, the domain libvirt reports and what the agent remembers (a
shutdown it asked for, a start that failed). No I/O here, so every rule has a unit test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kovirt.api.v1alpha1 import VirtualMachine
from kovirt.api.v1alpha1.virtualmachine import RunStrategy, VMPhase
from kovirt.node_agent.virt import DomainFacts


class Action(StrEnum):
    NONE = "none"
    START = "start"  # define from the current spec, then start
    SHUTDOWN = "shutdown"  # ACPI power button
    DESTROY = "destroy"  # pull the plug (after the graceful timeout)
    REMOVE = "remove"  # undefine a shut-off domain


@dataclass(frozen=True)
class Decision:
    action: Action
    phase: VMPhase
    reason: str
    #: The start brings a guest back after it stopped (counts in status.runtime.restarts).
    restart: bool = False


@dataclass(frozen=True)
class Memory:
    """What the agent remembers about a VM between passes (lost on restart: that is fine,
    every item is re-derived or simply retried)."""

    shutdown_sent_at: float | None = None
    retry_at: float | None = None  # a failed start is retried from then on
    failure_reason: str | None = None


def wants_running(vm: VirtualMachine) -> bool:
    return vm.metadata.deletion_timestamp is None and vm.spec.run_strategy != RunStrategy.HALTED


def decide(
    vm: VirtualMachine,
    actual: DomainFacts | None,
    memory: Memory,
    now: float,
    stop_timeout_s: float,
) -> Decision:
    if not wants_running(vm):
        return decide_stop(vm, actual, memory, now, stop_timeout_s)
    if actual is not None and actual.active:
        return Decision(Action.NONE, VMPhase.RUNNING, "Running")
    if memory.retry_at is not None and now < memory.retry_at:
        return Decision(Action.NONE, VMPhase.FAILED, memory.failure_reason or "StartFailed")
    if actual is None:
        return decide_first_start(vm)
    return decide_after_stop(vm, actual)


def decide_stop(
    vm: VirtualMachine,
    actual: DomainFacts | None,
    memory: Memory,
    now: float,
    stop_timeout_s: float,
) -> Decision:
    why = "Deleted" if vm.metadata.deletion_timestamp is not None else "Halted"
    if actual is None:
        return Decision(Action.NONE, VMPhase.STOPPED, why)
    if not actual.active:
        return Decision(Action.REMOVE, VMPhase.STOPPED, why)
    if memory.shutdown_sent_at is None:
        return Decision(Action.SHUTDOWN, VMPhase.STOPPING, "ShuttingDown")
    if now - memory.shutdown_sent_at >= stop_timeout_s:
        return Decision(Action.DESTROY, VMPhase.STOPPING, "ShutdownTimedOut")
    return Decision(Action.NONE, VMPhase.STOPPING, "ShuttingDown")


def decide_first_start(vm: VirtualMachine) -> Decision:
    """No domain: start it, except a Manual VM that already ran once (the user decides)."""
    runtime = vm.status.runtime
    if vm.spec.run_strategy == RunStrategy.MANUAL and runtime and runtime.started_at:
        return Decision(Action.NONE, VMPhase.STOPPED, "StoppedManual")
    return Decision(Action.START, VMPhase.STARTING, "Starting")


def decide_after_stop(vm: VirtualMachine, actual: DomainFacts) -> Decision:
    """The domain is defined and shut off: restart by the run strategy, or leave it."""
    clean = actual.reason == "shutdown"  # the guest powered itself off
    strategy = vm.spec.run_strategy
    if strategy == RunStrategy.ALWAYS:
        why = "RestartedAfterPowerOff" if clean else "RestartedAfterCrash"
        return Decision(Action.START, VMPhase.STARTING, why, restart=True)
    if strategy == RunStrategy.RERUN_ON_FAILURE and not clean:
        return Decision(Action.START, VMPhase.STARTING, "RestartedAfterCrash", restart=True)
    return Decision(Action.NONE, VMPhase.STOPPED, "PoweredOff" if clean else "Crashed")
