"""VirtualMachine: a guest whose disks are RBD images in storage domains.

Status is split between two writers (see docs/architecture.md): the operator owns
provisioning and placement (`host`, `disks`, `conditions`, phase up to Scheduled); the node
agent owns runtime (phase from Starting on, and everything under `runtime`, including its
own conditions such as Running or Failed). Nobody writes the other's list, so merge patches
never clobber each other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from kovirt.api.quantity import Quantity
from kovirt.api.v1alpha1.common import (
    DNS_NAME_PATTERN,
    LABEL_PATTERN,
    ApiModel,
    CustomResource,
    QoS,
    ResourceStatus,
    age_column,
)
from kovirt.api.v1alpha1.diskimage import HttpSource

MAX_DISKS = 16
MAX_NETWORKS = 8


class RunStrategy(StrEnum):
    ALWAYS = "Always"  # keep it running; restart whenever it stops
    RERUN_ON_FAILURE = "RerunOnFailure"  # restart after a crash, not after a clean power-off
    MANUAL = "Manual"  # start once; then the user decides
    HALTED = "Halted"  # keep it stopped


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI = "uefi"


class DiskBus(StrEnum):
    VIRTIO = "virtio"
    SCSI = "scsi"
    SATA = "sata"


class DiskCache(StrEnum):
    NONE = "none"
    WRITEBACK = "writeback"
    WRITETHROUGH = "writethrough"
    DIRECTSYNC = "directsync"
    UNSAFE = "unsafe"


class Discard(StrEnum):
    UNMAP = "unmap"
    IGNORE = "ignore"


class ImageReference(ApiModel):
    name: str = Field(
        pattern=DNS_NAME_PATTERN, max_length=253, description="DiskImage in the VM's namespace."
    )


class BlankSource(ApiModel):
    """An empty disk; it has no settings (write `blank: {}`)."""


class DiskSource(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.blank), has(self.image), has(self.http)]"
                    ".filter(x, x).size() == 1",
                    "message": "a disk source is exactly one of blank, image or http",
                }
            ]
        }
    )

    blank: BlankSource | None = Field(
        default=None, description="An empty disk of the disk's size (write `blank: {}`)."
    )
    image: ImageReference | None = Field(
        default=None, description="A copy-on-write clone of a DiskImage (O(1), any size)."
    )
    http: HttpSource | None = Field(default=None, description="Stream a raw image from a URL.")


class Disk(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.source.image) || has(self.size)",
                    "message": "size is required unless the disk clones an image",
                }
            ]
        }
    )

    name: str = Field(
        pattern=LABEL_PATTERN, max_length=40, description="Disk name, unique in the VM."
    )
    storage_domain: str = Field(
        pattern=DNS_NAME_PATTERN, max_length=253, description="StorageDomain holding the disk."
    )
    size: Quantity | None = Field(
        default=None, description="Disk size, e.g. 10Gi; for a clone, grows the image to it."
    )
    source: DiskSource = Field(description="Where the disk's first bytes come from.")
    bus: DiskBus = Field(default=DiskBus.VIRTIO, description="virtio, scsi or sata.")
    cache: DiskCache = Field(default=DiskCache.NONE, description="QEMU cache mode.")
    discard: Discard = Field(default=Discard.UNMAP, description="Pass discards to Ceph (unmap).")
    boot_order: int | None = Field(default=None, ge=1, le=32, description="1 boots first.")
    qos: QoS | None = Field(
        default=None, description="I/O limits; overrides the storage domain's default."
    )


class Network(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'bridge' || has(self.bridge)",
                    "message": "a bridge network needs bridge: <host bridge name>",
                }
            ]
        }
    )

    name: str = Field(pattern=LABEL_PATTERN, max_length=40, description="Interface name.")
    type: Literal["user", "bridge"] = Field(
        default="user", description="user (NAT by QEMU) or bridge (a host bridge)."
    )
    bridge: str | None = Field(default=None, max_length=15, description="Host bridge name.")


class KernelBoot(ApiModel):
    kernel: str = Field(description="Kernel path on the host.")
    initrd: str | None = Field(default=None, description="Initramfs path on the host.")
    cmdline: str = Field(default="", max_length=4096, description="Kernel command line.")


class VirtualMachineSpec(ApiModel):
    data_center: str = Field(
        pattern=DNS_NAME_PATTERN,
        max_length=253,
        description="The DataCenter that runs this VM.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "dataCenter is immutable"}
            ]
        },
    )
    run_strategy: RunStrategy = Field(
        default=RunStrategy.ALWAYS, description="Always, RerunOnFailure, Manual or Halted."
    )
    high_availability: bool = Field(
        default=False, description="Restart on another host when its host is lost (fenced)."
    )
    cpus: int = Field(default=1, ge=1, le=256, description="Virtual CPUs.")
    memory: Quantity = Field(default="512Mi", description="Guest memory, e.g. 2Gi.")
    machine: str = Field(default="pc", max_length=64, description="QEMU machine type.")
    firmware: Firmware = Field(default=Firmware.BIOS, description="bios or uefi.")
    kernel_boot: KernelBoot | None = Field(
        default=None, description="Boot a kernel directly instead of from a disk."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Labels a Host must carry to run this VM."
    )
    guest_config: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description=(
            "Small strings handed to the guest through QEMU fw_cfg (libvirt sysinfo type "
            "fwcfg) as opt/kovirt/<key>; e.g. `args` for kovirt's test guest. Read-only for "
            "the guest, no network or disk needed."
        ),
    )
    disks: list[Disk] = Field(
        default_factory=list,
        max_length=MAX_DISKS,
        description="Disks, each an RBD image in a storage domain.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    networks: list[Network] = Field(
        default_factory=list,
        max_length=MAX_NETWORKS,
        description="Network interfaces.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )


class VMPhase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    SCHEDULED = "Scheduled"
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MIGRATING = "Migrating"
    FAILED = "Failed"


#: Phases the operator writes; from Starting on, the node agent writes the phase.
OPERATOR_PHASES = frozenset({VMPhase.PENDING, VMPhase.PROVISIONING, VMPhase.SCHEDULED})


class DiskStatus(ApiModel):
    name: str = Field(description="Disk name from spec.")
    pool: str | None = Field(default=None, description="Pool holding the image metadata.")
    data_pool: str | None = Field(default=None, description="EC data pool, if any.")
    image: str | None = Field(default=None, description="RBD image name.")
    size_bytes: int | None = Field(default=None, description="Image size in bytes.")
    parent: str | None = Field(default=None, description="pool/image@snap it was cloned from.")
    ready: bool = Field(default=False, description="The image exists at the asked size.")


class RuntimeStatus(ResourceStatus):
    """Written by the node agent only."""

    domain_state: str | None = Field(default=None, description="libvirt state, e.g. running.")
    reason: str | None = Field(default=None, description="Why it is in this state.")
    started_at: str | None = Field(default=None, description="When the guest last started.")
    restarts: int = Field(default=0, ge=0, description="Restarts done by the run strategy.")
    console_log: str | None = Field(
        default=None, description="Host path of the serial console log."
    )
    message: str | None = Field(default=None, description="Details, e.g. a libvirt error.")


class VirtualMachineStatus(ResourceStatus):
    phase: VMPhase | None = Field(default=None, description="Where the VM is in its life.")
    host: str | None = Field(default=None, description="The Host that runs it.")
    disks: list[DiskStatus] = Field(
        default_factory=list,
        description="Per-disk provisioning state.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    runtime: RuntimeStatus | None = Field(
        default=None, description="Runtime state, reported by the host's agent."
    )


class VirtualMachine(CustomResource):
    """A virtual machine on Ceph RBD disks."""

    plural: ClassVar[str] = "virtualmachines"
    short_names: ClassVar[tuple[str, ...]] = ("kvm", "kvms")
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Host", "type": "string", "jsonPath": ".status.host"},
        {"name": "Run Strategy", "type": "string", "jsonPath": ".spec.runStrategy"},
        {"name": "CPUs", "type": "integer", "jsonPath": ".spec.cpus", "priority": 1},
        {"name": "Memory", "type": "string", "jsonPath": ".spec.memory", "priority": 1},
        {"name": "Data Center", "type": "string", "jsonPath": ".spec.dataCenter", "priority": 1},
        age_column(),
    )

    kind: Literal["VirtualMachine"] = "VirtualMachine"
    spec: VirtualMachineSpec
    status: VirtualMachineStatus = Field(default_factory=VirtualMachineStatus)

    @property
    def domain_name(self) -> str:
        """libvirt domain name: kovirt-owned and unique per namespace/name."""
        return f"kovirt-{self.metadata.namespace}-{self.metadata.name}"
