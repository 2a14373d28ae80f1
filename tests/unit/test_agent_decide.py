"""What the agent decides for one VM, rule by rule (no I/O: decide() is pure)."""

from __future__ import annotations

import pytest

from kovirt.api.v1alpha1 import VirtualMachine
from kovirt.api.v1alpha1.virtualmachine import VMPhase
from kovirt.domxml import KovirtVm
from kovirt.node_agent.config import parse_labels, parse_monitors
from kovirt.node_agent.decide import Action, Memory, decide
from kovirt.node_agent.status import Outcome, status_patch
from kovirt.node_agent.virt import DomainFacts, classify

UID = "u-1"


def make_vm(strategy: str = "Always", *, deleting: bool = False, started: bool = False):
    meta = {"name": "a", "namespace": "ns", "uid": UID, "generation": 1}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"runtime": {"startedAt": "2026-01-01T00:00:00Z"}} if started else {}
    return VirtualMachine.model_validate(
        {"metadata": meta, "spec": {"dataCenter": "dc", "runStrategy": strategy}, "status": status}
    )


def domain(state: str, reason: str = "") -> DomainFacts:
    owner = KovirtVm(uid=UID, namespace="ns", name="a", generation=1)
    return DomainFacts("kovirt-ns-a", owner, state, reason, True)


def run(vm, actual, memory: Memory | None = None, now: float = 100.0):
    return decide(vm, actual, memory or Memory(), now, stop_timeout_s=30)


@pytest.mark.parametrize("strategy", ["Always", "RerunOnFailure", "Manual"])
def test_a_vm_without_a_domain_is_started(strategy):
    decision = run(make_vm(strategy), None)
    assert (decision.action, decision.phase, decision.restart) == (
        Action.START,
        VMPhase.STARTING,
        False,
    )


def test_a_running_domain_is_adopted_not_restarted():
    decision = run(make_vm(), domain("running"))
    assert (decision.action, decision.phase) == (Action.NONE, VMPhase.RUNNING)


def test_always_restarts_after_a_clean_power_off():
    decision = run(make_vm("Always"), domain("shutoff", "shutdown"))
    assert (decision.action, decision.restart) == (Action.START, True)


def test_rerun_on_failure_restarts_after_a_crash_but_not_after_power_off():
    crashed = run(make_vm("RerunOnFailure"), domain("shutoff", "crashed"))
    clean = run(make_vm("RerunOnFailure"), domain("shutoff", "shutdown"))
    assert (crashed.action, crashed.reason) == (Action.START, "RestartedAfterCrash")
    assert (clean.action, clean.phase) == (Action.NONE, VMPhase.STOPPED)


def test_manual_starts_once_and_then_leaves_it_to_the_user():
    assert run(make_vm("Manual", started=True), None).action == Action.NONE
    assert run(make_vm("Manual"), domain("shutoff", "crashed")).phase == VMPhase.STOPPED


def test_halted_sends_acpi_shutdown_then_destroys_after_the_timeout_then_removes():
    vm = make_vm("Halted")
    assert run(vm, domain("running")).action == Action.SHUTDOWN
    asked = Memory(shutdown_sent_at=90.0)
    assert run(vm, domain("running"), asked, now=100.0).action == Action.NONE
    assert run(vm, domain("running"), asked, now=121.0).action == Action.DESTROY
    assert run(vm, domain("shutoff", "destroyed")).action == Action.REMOVE
    assert run(vm, None).phase == VMPhase.STOPPED


def test_a_deleted_vm_is_stopped_whatever_its_strategy():
    decision = run(make_vm("Always", deleting=True), domain("running"))
    assert (decision.action, decision.phase) == (Action.SHUTDOWN, VMPhase.STOPPING)


def test_a_failed_start_waits_for_its_retry_time():
    memory = Memory(retry_at=150.0, failure_reason="ImageNotFound")
    waiting = run(make_vm(), None, memory, now=100.0)
    assert (waiting.action, waiting.phase, waiting.reason) == (
        Action.NONE,
        VMPhase.FAILED,
        "ImageNotFound",
    )
    assert run(make_vm(), None, memory, now=151.0).action == Action.START


def test_status_is_patched_only_when_it_changed():
    vm = make_vm()
    outcome = Outcome(VMPhase.RUNNING, "Running", "running", "/c.log")
    patch = status_patch(vm, {}, outcome)
    assert patch["phase"] == "Running"
    assert patch["runtime"]["domainState"] == "running"
    written = {"phase": "Running", "runtime": patch["runtime"]}
    reread = VirtualMachine.model_validate({**vm.model_dump(by_alias=True), "status": written})
    assert status_patch(reread, written, outcome) == {}


def test_a_failure_sets_the_failed_condition_with_its_reason_and_message():
    outcome = Outcome(
        VMPhase.FAILED, "ImageNotFound", "absent", None, None, False, "ImageNotFound", "gone"
    )
    runtime = status_patch(make_vm(), {}, outcome)["runtime"]
    failed = next(c for c in runtime["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "True",
        "ImageNotFound",
        "gone",
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "internal error: qemu unexpectedly closed: error reading header from rbd: "
            "No such file or directory",
            "ImageNotFound",
        ),
        ("error connecting: Permission denied (rbd)", "CephPermissionDenied"),
        ("unsupported configuration: something", "LibvirtError"),
    ],
)
def test_libvirt_messages_are_classified_by_whose_fault_they_are(message, reason):
    assert classify(message) == reason


def test_monitor_addresses_prefer_msgr_v2_and_accept_plain_lists():
    assert parse_monitors("[v2:127.0.0.1:3300/0,v1:127.0.0.1:6789/0]") == [("127.0.0.1", 3300)]
    assert parse_monitors("10.0.0.1:6789,10.0.0.2") == [("10.0.0.1", 6789), ("10.0.0.2", 6789)]


def test_host_labels_parse_from_key_value_pairs_and_refuse_garbage():
    assert parse_labels("zone=a, rack=r1") == {"zone": "a", "rack": "r1"}
    assert parse_labels("") == {}
    with pytest.raises(ValueError):
        parse_labels("novalue")
