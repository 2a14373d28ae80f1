"""One level-based pass: the VMs placed here vs the kovirt domains libvirt has; act once.

Per pass: list this host's VMs (server-side label selector), list kovirt-owned domains,
remove the ones no VM wants (and stale ones whose uid differs), then decide and act per VM.
A failure with one VM is recorded in its status and never stops the others.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from kovirt.api.v1alpha1 import QoS, StorageDomain, VirtualMachine
from kovirt.api.v1alpha1.virtualmachine import VMPhase
from kovirt.errors import KovirtError
from kovirt.node_agent.builder import BuildError, HostFacts, build_domain, console_log_path
from kovirt.node_agent.config import AGENT_FINALIZER, HOST_LABEL, AgentConfig
from kovirt.node_agent.decide import Action, Decision, Memory, decide
from kovirt.node_agent.kube import Kube
from kovirt.node_agent.status import WARNING_PHASES, Outcome, status_patch
from kovirt.node_agent.storage import check_vm_disks
from kovirt.node_agent.virt import DomainFacts, Hypervisor, LibvirtFailure

log = logging.getLogger(__name__)

RETRY_FIRST_S = 10.0
RETRY_MAX_S = 300.0
QOS_CACHE_S = 30.0


@dataclass
class PassResult:
    """What a pass saw, for the Host status and metrics."""

    vms: list[VirtualMachine] = field(default_factory=list)
    domains: dict[str, DomainFacts] = field(default_factory=dict)


class Reconciler:
    def __init__(
        self, config: AgentConfig, kube: Kube, hypervisor: Hypervisor, facts: HostFacts
    ) -> None:
        self.config = config
        self.kube = kube
        self.hv = hypervisor
        self.facts = facts
        self.memory: dict[str, Memory] = {}  # by VM uid
        self.failures: dict[str, int] = {}  # consecutive failed starts, by VM uid
        self._qos: dict[str, tuple[float, QoS | None]] = {}

    # -- the pass ---------------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        raw_vms, _ = self.kube.list_vms(self.config.label_selector)
        vms = []
        for raw in raw_vms:
            try:
                vms.append((VirtualMachine.model_validate(raw), raw))
            except ValueError as error:  # one malformed object must not stop the host
                log.error("skipping unreadable VM %s: %s", raw["metadata"].get("name"), error)
        domains = self.hv.kovirt_domains()
        ours = [(vm, raw) for vm, raw in vms if self.placed_here(vm)]
        self.remove_unwanted(domains, [vm for vm, _ in vms])
        for vm, raw in ours:
            try:
                self.reconcile_vm(vm, raw, domains.get(vm.domain_name))
            except Exception:  # keep serving the other VMs; retried next pass
                log.exception("reconciling %s failed", vm.domain_name)
        uids = {vm.metadata.uid for vm, _ in ours}
        self.memory = {uid: m for uid, m in self.memory.items() if uid in uids}
        return PassResult([vm for vm, _ in ours], self.hv.kovirt_domains())

    def placed_here(self, vm: VirtualMachine) -> bool:
        """The label selected it; status.host must agree (the operator sets both)."""
        return (
            vm.metadata.labels.get(HOST_LABEL) == self.config.host_name
            and vm.status.host == self.config.host_name
        )

    # -- domains no VM wants ----------------------------------------------------------------

    def remove_unwanted(self, domains: dict[str, DomainFacts], vms: list[VirtualMachine]) -> None:
        """Destroy and undefine kovirt domains no VM placed here wants (and stale ones whose
        VM was recreated under the same name: its uid differs)."""
        wanted = {(vm.domain_name, vm.metadata.uid) for vm in vms}
        for name, facts in list(domains.items()):
            if (name, facts.owner.uid) in wanted:
                continue
            raw = self.kube.get_vm(facts.owner.namespace, facts.owner.name)
            if raw is not None and raw["metadata"].get("uid") == facts.owner.uid:
                elsewhere = (raw["metadata"].get("labels") or {}).get(HOST_LABEL)
                if elsewhere and elsewhere != self.config.host_name:
                    # Placed on another Host that shares this libvirtd (several agents on
                    # one machine, as the local stack runs them): that agent's domain.
                    del domains[name]
                    continue
            log.info(
                "removing domain %s: no VM placed here wants it (uid %s)", name, facts.owner.uid
            )
            guest = self.hv.guest(name)
            if guest is not None:
                guest.destroy()
                guest.undefine()
            del domains[name]
            if raw is not None and raw["metadata"].get("uid") == facts.owner.uid:
                # Its VM was unplaced: drop our finalizer so that its deletion can go on.
                self.set_finalizer(raw, present=False)

    # -- one VM -------------------------------------------------------------------------------

    def reconcile_vm(self, vm: VirtualMachine, raw: dict, actual: DomainFacts | None) -> None:
        uid = vm.metadata.uid or ""
        memory = self.memory.get(uid, Memory())
        if actual is None and vm.metadata.deletion_timestamp is not None:
            self.finish_deletion(vm, raw)
            return
        decision = decide(vm, actual, memory, time.monotonic(), self.config.stop_timeout_s)
        outcome = self.act(vm, raw, decision, actual, memory)
        if outcome is None:
            return
        if vm.metadata.deletion_timestamp is not None and outcome.domain_state == "absent":
            self.finish_deletion(vm, raw)
            return
        self.report(vm, raw, outcome)

    def act(
        self,
        vm: VirtualMachine,
        raw: dict,
        decision: Decision,
        actual: DomainFacts | None,
        memory: Memory,
    ) -> Outcome | None:
        uid = vm.metadata.uid or ""
        console = str(console_log_path(self.config.console_dir, vm))
        state = actual.state if actual else "absent"
        base = Outcome(decision.phase, decision.reason, state, console)
        if decision.action == Action.NONE:
            if decision.phase == VMPhase.FAILED:
                return replace(
                    base,
                    failure_reason=memory.failure_reason,
                    failure_message=(vm.status.runtime.message if vm.status.runtime else None),
                )
            if decision.phase == VMPhase.RUNNING:
                self.memory.pop(uid, None)
                self.failures.pop(uid, None)
                if not (vm.status.runtime and vm.status.runtime.started_at):
                    return replace(base, started=True)  # adopted before it was ever reported
            return base
        if decision.action == Action.SHUTDOWN:
            self.hv.guest(vm.domain_name).shutdown()
            self.memory[uid] = replace(memory, shutdown_sent_at=time.monotonic())
            self.event(raw, "Normal", "ShuttingDown", "ACPI shutdown sent to the guest")
            return base
        if decision.action == Action.DESTROY:
            self.hv.guest(vm.domain_name).destroy()
            self.event(
                raw, "Warning", "ShutdownTimedOut", "the guest ignored ACPI shutdown: destroyed"
            )
            return replace(base, domain_state="shutoff")
        if decision.action == Action.REMOVE:
            self.hv.guest(vm.domain_name).undefine()
            self.memory.pop(uid, None)
            return replace(base, domain_state="absent")
        return self.start(vm, raw, decision, memory, base)

    def start(
        self, vm: VirtualMachine, raw: dict, decision: Decision, memory: Memory, base: Outcome
    ) -> Outcome | None:
        uid = vm.metadata.uid or ""
        try:
            domain = build_domain(vm, self.host_facts(vm))
        except BuildError as error:
            if error.reason == "DiskNotProvisioned":
                log.info("%s: waiting for disks: %s", vm.domain_name, error)
                return None  # the operator is not done yet; its phase stays
            return self.failed(vm, raw, memory, error.reason, str(error), base)
        problem = check_vm_disks(
            vm, self.config.ceph_monitors, self.config.ceph_user, self.config.ceph_key
        )
        if problem is not None:
            return self.failed(vm, raw, memory, problem.reason, problem.message, base)
        if not self.set_finalizer(raw, present=True):
            return None  # the VM changed meanwhile: the next pass sees the new one
        starting = replace(base, phase=VMPhase.STARTING)
        self.report(vm, raw, starting)
        Path(self.config.console_dir).mkdir(parents=True, exist_ok=True)
        try:
            self.hv.define(domain).start()
        except LibvirtFailure as error:
            return self.failed(vm, raw, memory, error.reason, str(error), base)
        self.failures.pop(uid, None)
        self.memory.pop(uid, None)
        verb = "Restarted" if decision.restart else "Started"
        self.event(raw, "Normal", verb, f"domain {vm.domain_name} started ({decision.reason})")
        return replace(
            base,
            phase=VMPhase.RUNNING,
            domain_state="running",
            started=True,
            restarted=decision.restart,
        )

    def failed(
        self, vm: VirtualMachine, raw: dict, memory: Memory, reason: str, message: str, base
    ) -> Outcome:
        """Record a failed start and back off exponentially before the next attempt."""
        uid = vm.metadata.uid or ""
        count = self.failures.get(uid, 0) + 1
        self.failures[uid] = count
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (count - 1))
        self.memory[uid] = replace(memory, retry_at=time.monotonic() + delay, failure_reason=reason)
        log.warning(
            "%s failed to start (%s), retry in %.0fs: %s", vm.domain_name, reason, delay, message
        )
        with contextlib.suppress(LibvirtFailure):
            guest = self.hv.guest(vm.domain_name)
            if guest is not None and guest.state()[0] == "shutoff":
                guest.undefine()  # a definition that cannot start is not worth keeping
        return replace(
            base,
            phase=VMPhase.FAILED,
            reason=reason,
            domain_state="absent",
            failure_reason=reason,
            failure_message=message,
        )

    def finish_deletion(self, vm: VirtualMachine, raw: dict) -> None:
        """The domain is gone: let the operator remove the disks (drop our finalizer)."""
        held = AGENT_FINALIZER in (raw["metadata"].get("finalizers") or [])
        if held and self.set_finalizer(raw, present=False):
            self.event(raw, "Normal", "Released", "domain removed; disks may go")
        log_file = console_log_path(self.config.console_dir, vm)
        log_file.unlink(missing_ok=True)
        self.memory.pop(vm.metadata.uid or "", None)

    # -- API writes -----------------------------------------------------------------------------

    def report(self, vm: VirtualMachine, raw: dict, outcome: Outcome) -> None:
        raw_status = raw.get("status") or {}
        patch = status_patch(vm, raw_status, outcome)
        if not patch:
            return
        namespace, name = vm.metadata.namespace or "", vm.metadata.name
        try:
            self.kube.patch_vm_status(namespace, name, patch)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        if "phase" in patch:
            kind = "Warning" if outcome.phase in WARNING_PHASES else "Normal"
            message = outcome.failure_message or f"{outcome.reason}; domain {outcome.domain_state}"
            self.event(raw, kind, str(outcome.phase), message)
        # Later writes in this pass compare against what we just wrote.
        raw["status"] = {**raw_status, **{k: v for k, v in patch.items() if k != "runtime"}}
        if "runtime" in patch:
            raw["status"]["runtime"] = {k: v for k, v in patch["runtime"].items() if v is not None}

    def set_finalizer(self, raw: dict, present: bool) -> bool:
        """Add or drop our finalizer; False when the VM changed meanwhile (409) or is gone."""
        meta = raw["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if (AGENT_FINALIZER in finalizers) == present:
            return True
        if present:
            if meta.get("deletionTimestamp"):
                return False  # a deleted VM takes no new finalizers (and is not started)
            finalizers.append(AGENT_FINALIZER)
        else:
            finalizers.remove(AGENT_FINALIZER)
        try:
            self.kube.set_vm_finalizers(
                meta.get("namespace"), meta["name"], finalizers, meta["resourceVersion"]
            )
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        meta["finalizers"] = finalizers
        return True

    def event(self, raw: dict, type_: str, reason: str, message: str) -> None:
        """An Event on the VM, and the same line in the agent's log (`kubectl logs`)."""
        meta = raw["metadata"]
        level = logging.INFO if type_ == "Normal" else logging.WARNING
        log.log(level, "%s/%s %s: %s", meta.get("namespace"), meta["name"], reason, message)
        self.kube.event(raw, type_, reason, message, self.config.host_name)

    # -- builder inputs -------------------------------------------------------------------------

    def host_facts(self, vm: VirtualMachine) -> HostFacts:
        names = {disk.storage_domain for disk in vm.spec.disks if disk.qos is None}
        qos = {name: q for name in names if (q := self.domain_qos(name)) is not None}
        return replace(self.facts, domain_qos=qos)

    def domain_qos(self, name: str) -> QoS | None:
        """A StorageDomain's default QoS (cached briefly: it rarely changes)."""
        cached = self._qos.get(name)
        if cached is not None and time.monotonic() - cached[0] < QOS_CACHE_S:
            return cached[1]
        qos = None
        try:
            raw = self.kube.get_storage_domain(name)
            if raw is not None:
                qos = StorageDomain.model_validate(raw).spec.qos
        except (ApiException, ValueError, KovirtError) as error:
            log.warning("cannot read StorageDomain %s for its QoS: %s", name, error)
        self._qos[name] = (time.monotonic(), qos)
        return qos


def vm_key(vm: VirtualMachine) -> tuple[str, str]:
    return vm.metadata.namespace or "", vm.metadata.name
