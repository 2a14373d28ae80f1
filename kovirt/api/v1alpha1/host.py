"""Host: one hypervisor node, registered and kept current by its node agent."""

from __future__ import annotations

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


class HostSpec(ApiModel):
    data_center: str = Field(
        pattern=DNS_NAME_PATTERN, max_length=253, description="The DataCenter of this host."
    )
    node_name: str | None = Field(
        default=None, description="The Kubernetes Node it runs on, when there is one."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels VMs select hosts by (the node's labels, in a real cluster).",
    )
    maintenance: bool = Field(
        default=False, description="true: take no new VMs; running VMs are stopped or moved."
    )


class HostResources(ApiModel):
    cpus: int = Field(default=0, ge=0, description="Virtual CPUs.")
    memory_bytes: int = Field(default=0, ge=0, description="Memory in bytes.")


class HostStatus(ResourceStatus):
    phase: Literal["Ready", "NotReady", "Maintenance"] | None = Field(
        default=None, description="Ready while the agent renews its Lease."
    )
    capacity: HostResources = Field(
        default_factory=HostResources, description="What VMs may use on this host."
    )
    allocated: HostResources = Field(
        default_factory=HostResources, description="What placed VMs ask for."
    )
    hypervisor: Literal["kvm", "qemu"] | None = Field(
        default=None, description="kvm, or qemu (software emulation) when KVM does not work."
    )
    libvirt_version: str | None = Field(default=None, description="libvirt version.")
    qemu_version: str | None = Field(default=None, description="QEMU version.")
    agent_version: str | None = Field(default=None, description="kovirt agent version.")
    vms: int | None = Field(default=None, description="Domains running on this host.")
    lease_duration_seconds: int | None = Field(
        default=None, description="The host counts as lost when its Lease is older than this."
    )


class Host(CustomResource):
    """A hypervisor host (oVirt's VDSM host)."""

    plural: ClassVar[str] = "hosts"
    short_names: ClassVar[tuple[str, ...]] = ("khost",)
    scope: ClassVar[str] = "Cluster"
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Data Center", "type": "string", "jsonPath": ".spec.dataCenter"},
        {"name": "Hypervisor", "type": "string", "jsonPath": ".status.hypervisor"},
        {"name": "CPUs", "type": "integer", "jsonPath": ".status.capacity.cpus"},
        {"name": "VMs", "type": "integer", "jsonPath": ".status.vms"},
        condition_column("Ready", "Ready", priority=1),
        {"name": "Libvirt", "type": "string", "jsonPath": ".status.libvirtVersion", "priority": 1},
        age_column(),
    )

    kind: Literal["Host"] = "Host"
    spec: HostSpec
    status: HostStatus = Field(default_factory=HostStatus)
