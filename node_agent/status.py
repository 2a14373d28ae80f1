"""The VM runtime status the agent owns, computed from a decision, and the patch to write.

Only `status.phase` (from Starting on) and `status.runtime` are ours; a patch carries only
what differs from the VM as listed, so an unchanged VM costs no API write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kovirt.api.v1alpha1 import VirtualMachine
from kovirt.api.v1alpha1.virtualmachine import RuntimeStatus, VMPhase

#: Phases that are bad news (their Events are Warnings).
WARNING_PHASES = frozenset({VMPhase.FAILED})


@dataclass(frozen=True)
class Outcome:
    """What happened in this pass, for the status."""

    phase: VMPhase
    reason: str
    domain_state: str
    console_log: str | None
    started: bool = False
    restarted: bool = False
    failure_reason: str | None = None
    failure_message: str | None = None


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def runtime_status(vm: VirtualMachine, outcome: Outcome) -> RuntimeStatus:
    runtime = (vm.status.runtime or RuntimeStatus()).model_copy(deep=True)
    generation = vm.metadata.generation
    runtime.domain_state = outcome.domain_state
    runtime.reason = outcome.reason
    runtime.console_log = outcome.console_log
    runtime.message = outcome.failure_message
    if outcome.started:
        runtime.started_at = now_rfc3339()
    if outcome.restarted:
        runtime.restarts += 1
    running = outcome.phase == VMPhase.RUNNING
    runtime.set_condition(
        "Running", running, "Running" if running else outcome.reason, "", generation
    )
    if outcome.failure_reason:
        runtime.set_condition(
            "Failed", True, outcome.failure_reason, outcome.failure_message or "", generation
        )
    elif runtime.condition("Failed") is not None or running:
        runtime.set_condition("Failed", False, "NoFailure", "", generation)
    runtime.observed_generation = generation
    return runtime


def status_patch(vm: VirtualMachine, raw_status: dict[str, Any], outcome: Outcome) -> dict:
    """The merge patch for status (empty when nothing changed)."""
    patch: dict[str, Any] = {}
    if raw_status.get("phase") != outcome.phase:
        patch["phase"] = str(outcome.phase)
    runtime = runtime_status(vm, outcome).to_wire()
    if raw_status.get("runtime") != runtime:
        # A merge patch merges objects key by key: keys we dropped must be sent as null.
        old = raw_status.get("runtime") or {}
        patch["runtime"] = {**{key: None for key in old if key not in runtime}, **runtime}
    return patch
