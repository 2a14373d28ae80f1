"""DataCenter: the top container of compute and storage, bound to one Ceph cluster."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field

from kovirt.api.v1alpha1.common import (
    DNS_NAME_PATTERN,
    ApiModel,
    CustomResource,
    ResourceStatus,
    age_column,
    condition_column,
)


class Hypervisor(StrEnum):
    AUTO = "auto"  # KVM when it really runs a guest on the host, software emulation otherwise
    KVM = "kvm"
    QEMU = "qemu"  # software emulation (TCG)


class LibvirtMode(StrEnum):
    POD = "pod"  # libvirtd runs in a pod of its own on every host
    HOST = "host"  # the host's own libvirtd, reached through its socket


class SecretReference(ApiModel):
    name: str = Field(pattern=DNS_NAME_PATTERN, max_length=253, description="Secret name.")
    namespace: str = Field(
        default="kovirt-system",
        pattern=DNS_NAME_PATTERN,
        max_length=63,
        description="Secret namespace.",
    )


class CephConnection(ApiModel):
    monitors: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description=(
            "Monitor addresses, e.g. 10.0.0.1:6789 or v2:10.0.0.1:3300. When omitted, they are "
            "read from the Secret's `monitors` key (comma-separated)."
        ),
    )
    secret_ref: SecretReference = Field(
        description=(
            "Secret with keys `user` (cephx id without `client.`, e.g. admin), `key`, and "
            "optionally `monitors`: an identity allowed to create pools and cephx users. "
            "Only the operator reads it; agents get a user of their own."
        )
    )


class HostSelection(ApiModel):
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Labels a node must carry to be a hypervisor host of this data center.",
    )
    hypervisor: Hypervisor = Field(
        default=Hypervisor.AUTO,
        description="auto (KVM when it really works, software emulation otherwise), kvm, qemu.",
    )
    cpu_overcommit: float = Field(
        default=4.0,
        ge=1.0,
        le=64.0,
        description="Virtual CPUs placed per host CPU (memory is never overcommitted).",
    )


class AgentSettings(ApiModel):
    image: str | None = Field(
        default=None,
        description="Container image of the node agent; default: the operator's setting "
        "(the Helm chart's agent.image).",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Pull policy for the agent image; default: the operator's."
    )
    libvirt: LibvirtMode = Field(
        default=LibvirtMode.POD,
        description="pod: libvirtd in a pod of its own per host; host: the host's libvirtd.",
    )
    resources: dict[str, Any] | None = Field(
        default=None,
        description="Kubernetes resource requests/limits for the agent container.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class DataCenterSpec(ApiModel):
    ceph: CephConnection = Field(description="The Ceph cluster whose pools hold this DC's disks.")
    hosts: HostSelection = Field(
        default_factory=HostSelection, description="Which nodes are hypervisors, and how."
    )
    agent: AgentSettings = Field(
        default_factory=AgentSettings, description="How the node agents run."
    )


class CephHealth(StrEnum):
    OK = "HEALTH_OK"
    WARN = "HEALTH_WARN"
    ERR = "HEALTH_ERR"
    UNKNOWN = "Unknown"


class DataCenterStatus(ResourceStatus):
    phase: Literal["Pending", "Ready", "Degraded", "Failed", "Deleting"] | None = Field(
        default=None, description="Summary: Ready when Ceph is reachable and agents are set up."
    )
    fsid: str | None = Field(default=None, description="The Ceph cluster's fsid.")
    ceph_health: CephHealth | None = Field(default=None, description="Ceph's health summary.")
    capacity_bytes: int | None = Field(default=None, description="Raw Ceph capacity.")
    used_bytes: int | None = Field(default=None, description="Raw Ceph usage.")
    hosts_ready: int | None = Field(default=None, description="Hosts whose agent is Ready.")
    hosts_total: int | None = Field(default=None, description="Hosts of this data center.")
    agent_user: str | None = Field(
        default=None, description="The cephx user (client.<name>) the agents use."
    )
    agent_pools: list[str] = Field(
        default_factory=list, description="Pools the agents' cephx user may use."
    )


class DataCenter(CustomResource):
    """A data center: one Ceph cluster, its storage domains and its hypervisor hosts."""

    plural: ClassVar[str] = "datacenters"
    short_names: ClassVar[tuple[str, ...]] = ("dc",)
    scope: ClassVar[str] = "Cluster"
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Ceph", "type": "string", "jsonPath": ".status.cephHealth"},
        {"name": "Hosts Ready", "type": "integer", "jsonPath": ".status.hostsReady"},
        {"name": "Hosts", "type": "integer", "jsonPath": ".status.hostsTotal"},
        condition_column("Ready", "Ready", priority=1),
        {"name": "FSID", "type": "string", "jsonPath": ".status.fsid", "priority": 1},
        age_column(),
    )

    kind: Literal["DataCenter"] = "DataCenter"
    spec: DataCenterSpec
    status: DataCenterStatus = Field(default_factory=DataCenterStatus)
