"""The Host object and its Lease: who this hypervisor is, what it offers, that it lives.

Liveness is the Lease `kovirt-host-<name>` (namespace KOVIRT_NAMESPACE), renewed every
leaseDurationSeconds / 4 and owned by the Host (deleting the Host garbage-collects it).
The agent marks its Host Ready while it runs and NotReady when it stops cleanly
(SIGTERM/SIGINT); an agent that dies cannot mark itself, so whoever reads the Host must
also check the Lease: stale after `status.leaseDurationSeconds`
(see node_agent/README.md, "Host liveness").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from kovirt.api.v1alpha1 import Host, HostSpec, HostStatus
from kovirt.node_agent.config import AGENT_VERSION, AgentConfig
from kovirt.node_agent.kube import Kube

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostInfo:
    """What the agent found about its host at start-up."""

    cpus: int
    memory_bytes: int
    hypervisor: str
    hypervisor_reason: str
    libvirt_version: str
    qemu_version: str


def host_spec(config: AgentConfig) -> HostSpec:
    return HostSpec(data_center=config.data_center, labels=dict(config.host_labels))


def ensure_host(kube: Kube, config: AgentConfig) -> dict[str, Any]:
    """Create the Host, or bring its dataCenter and labels to ours (maintenance is the
    admin's: never touched); then make sure an existing Lease is owned by this Host."""
    host = _create_or_update_host(kube, config)
    if host.get("metadata", {}).get("uid"):
        kube.own_lease(config.namespace, config.lease_name, host)
    return host


def _create_or_update_host(kube: Kube, config: AgentConfig) -> dict[str, Any]:
    spec = host_spec(config).to_wire()
    current = kube.get_host(config.host_name)
    if current is None:
        body = Host(metadata={"name": config.host_name}, spec=host_spec(config)).model_dump(
            by_alias=True, exclude_none=True, mode="json", exclude={"status"}
        )
        try:
            return kube.create_host(body)
        except ApiException as error:
            if error.status != 409:
                raise
            current = kube.get_host(config.host_name) or {}
    have = current.get("spec") or {}
    wanted = {"dataCenter": spec["dataCenter"], "labels": spec.get("labels", {})}
    if any(have.get(key) != value for key, value in wanted.items()):
        kube.patch_host(config.host_name, {"spec": wanted})
    return current


def host_status(
    config: AgentConfig,
    facts: HostInfo,
    previous: dict[str, Any] | None,
    *,
    ready: bool,
    vms: int,
    message: str,
) -> HostStatus:
    """The Host's status; lastTransitionTime of Ready moves only when Ready changes."""
    try:
        status = HostStatus.model_validate(previous or {})
    except ValueError:
        status = HostStatus()
    status.phase = "Ready" if ready else "NotReady"
    status.capacity.cpus = facts.cpus
    status.capacity.memory_bytes = max(0, facts.memory_bytes - config.memory_reserve_bytes)
    status.hypervisor = facts.hypervisor  # type: ignore[assignment]
    status.libvirt_version = facts.libvirt_version
    status.qemu_version = facts.qemu_version
    status.agent_version = AGENT_VERSION
    status.vms = vms
    status.lease_duration_seconds = config.lease_duration_s
    reason = "AgentReady" if ready else "AgentStopped"
    status.set_condition("Ready", ready, reason, message)
    return status


class HostReporter:
    """Writes the Host status only when it changed (vm count, versions, readiness)."""

    def __init__(self, kube: Kube, config: AgentConfig, facts: HostInfo) -> None:
        self.kube = kube
        self.config = config
        self.facts = facts
        self.last: dict[str, Any] | None = None

    def report(self, *, ready: bool, vms: int) -> None:
        # Read what is there each time (one GET per pass): the operator marks a Host
        # NotReady when its Lease looked stale, and a live agent must notice and undo that.
        current = self.kube.get_host(self.config.host_name) or {}
        self.last = current.get("status") or {}
        message = (
            f"agent {AGENT_VERSION} renews Lease {self.config.namespace}/"
            f"{self.config.lease_name}; {self.facts.hypervisor} ({self.facts.hypervisor_reason})"
            if ready
            else "the agent stopped; guests keep running but nothing watches them"
        )
        status = host_status(
            self.config, self.facts, self.last, ready=ready, vms=vms, message=message
        ).to_wire()
        if status == self.last:
            return
        self.kube.patch_host(self.config.host_name, {"status": status}, status=True)
        self.last = status
