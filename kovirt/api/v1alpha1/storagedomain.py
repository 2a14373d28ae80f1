"""StorageDomain: a Ceph pool (or an EC data pool + replicated metadata pool) for disks."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from kovirt.api.quantity import Quantity
from kovirt.api.v1alpha1.common import (
    DNS_NAME_PATTERN,
    ApiModel,
    CustomResource,
    QoS,
    ResourceStatus,
    age_column,
)


class DomainType(StrEnum):
    DATA = "data"  # VM disks
    ISO = "iso"  # installation media and golden images
    EXPORT = "export"  # VMs exported with their disks


class FailureDomain(StrEnum):
    HOST = "host"
    OSD = "osd"
    RACK = "rack"


class Compression(StrEnum):
    NONE = "none"
    PASSIVE = "passive"
    AGGRESSIVE = "aggressive"
    FORCE = "force"


class ReclaimPolicy(StrEnum):
    DELETE = "Delete"  # delete the pool(s) kovirt created once the domain is empty and gone
    RETAIN = "Retain"  # keep the pool(s) in Ceph


class ReplicatedLayout(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minSize) || self.minSize <= self.size",
                    "message": "minSize must not be larger than size",
                }
            ]
        }
    )

    # At least 2: Ceph refuses a one-copy pool unless mon_allow_pool_size_one is set, so
    # size 1 would be accepted here and fail in the operator.
    size: int = Field(
        default=3,
        ge=2,
        le=10,
        description="Copies of each object (2-10; Ceph refuses pools with a single copy).",
    )
    min_size: int | None = Field(
        default=None,
        ge=1,
        le=10,
        description="Copies needed to accept I/O; default size - size/2 (Ceph's own default).",
    )


class ErasureCodedLayout(ApiModel):
    data_chunks: int = Field(ge=2, le=32, description="k: data chunks per object (at least 2).")
    coding_chunks: int = Field(
        ge=1, le=16, description="m: coding chunks per object (at least 1); m failures survive."
    )


_IMMUTABLE_LAYOUT_RULE = (
    "(has(self.replicated) == has(oldSelf.replicated))"
    " && (has(self.erasureCoded) == has(oldSelf.erasureCoded))"
    " && (!has(self.erasureCoded) || self.erasureCoded == oldSelf.erasureCoded)"
    " && self.failureDomain == oldSelf.failureDomain"
    " && (has(self.name) == has(oldSelf.name)) && (!has(self.name) || self.name == oldSelf.name)"
)


class PoolSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.replicated) != has(self.erasureCoded)",
                    "message": "set exactly one of pool.replicated or pool.erasureCoded",
                },
                {
                    "rule": _IMMUTABLE_LAYOUT_RULE,
                    "message": (
                        "the pool layout (replicated or erasureCoded, chunks, failureDomain, "
                        "name) is immutable; create a new storage domain and migrate disks"
                    ),
                },
            ]
        }
    )

    name: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$",
        max_length=100,
        description="Ceph pool name; default kovirt-<domain name>. Immutable.",
    )
    replicated: ReplicatedLayout | None = Field(
        default=None, description="Replicated pool; size may change later."
    )
    erasure_coded: ErasureCodedLayout | None = Field(
        default=None,
        description="Erasure-coded data pool beside a replicated metadata pool (k+m OSDs).",
    )
    failure_domain: FailureDomain = Field(
        default=FailureDomain.HOST, description="CRUSH failure domain: host, osd or rack."
    )
    device_class: str | None = Field(
        default=None, max_length=64, description="CRUSH device class, e.g. ssd or hdd."
    )
    compression: Compression = Field(
        default=Compression.NONE, description="BlueStore compression mode."
    )
    quota: Quantity | None = Field(
        default=None, description="Maximum bytes stored in the pool, e.g. 500Gi."
    )


class StorageDomainSpec(ApiModel):
    data_center: str = Field(
        pattern=DNS_NAME_PATTERN,
        max_length=253,
        description="The DataCenter this domain belongs to.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "dataCenter is immutable"}
            ]
        },
    )
    type: DomainType = Field(
        default=DomainType.DATA,
        description="data (VM disks), iso (images) or export. Immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "type is immutable"}
            ]
        },
    )
    pool: PoolSpec = Field(description="The Ceph pool layout.")
    qos: QoS | None = Field(default=None, description="Default I/O limits for disks here.")
    maintenance: bool = Field(
        default=False,
        description=(
            "true: no new disks or images are placed here; running VMs keep running, stopped "
            "VMs with disks here are not started until maintenance ends."
        ),
    )
    reclaim_policy: ReclaimPolicy = Field(
        default=ReclaimPolicy.DELETE,
        description="On deletion: Delete the pools kovirt created, or Retain them.",
    )


class StorageDomainStatus(ResourceStatus):
    phase: Literal["Provisioning", "Active", "Maintenance", "Deleting", "Failed"] | None = Field(
        default=None, description="Provisioning, Active, Maintenance, Deleting or Failed."
    )
    pool: str | None = Field(default=None, description="Pool that holds image metadata.")
    data_pool: str | None = Field(
        default=None, description="Erasure-coded pool holding image data, if any."
    )
    used_bytes: int | None = Field(default=None, description="Bytes stored.")
    quota_bytes: int | None = Field(default=None, description="Quota in bytes, if set.")
    used: str | None = Field(default=None, description="Bytes stored, human-readable.")
    images: int | None = Field(default=None, description="RBD images in the domain.")


class StorageDomain(CustomResource):
    """A storage domain: where disks and images live, as one or two Ceph pools."""

    plural: ClassVar[str] = "storagedomains"
    short_names: ClassVar[tuple[str, ...]] = ("sd",)
    scope: ClassVar[str] = "Cluster"
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Data Center", "type": "string", "jsonPath": ".spec.dataCenter"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Pool", "type": "string", "jsonPath": ".status.pool"},
        {"name": "Used", "type": "string", "jsonPath": ".status.used"},
        {"name": "Quota", "type": "string", "jsonPath": ".spec.pool.quota"},
        {"name": "Images", "type": "integer", "jsonPath": ".status.images", "priority": 1},
        {"name": "Data Pool", "type": "string", "jsonPath": ".status.dataPool", "priority": 1},
        age_column(),
    )

    kind: Literal["StorageDomain"] = "StorageDomain"
    spec: StorageDomainSpec
    status: StorageDomainStatus = Field(default_factory=StorageDomainStatus)
