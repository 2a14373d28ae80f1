"""kovirt.io/v1alpha1: DataCenter, StorageDomain, DiskImage, VirtualMachine and Host."""

from kovirt.api.v1alpha1.common import (
    GROUP,
    VERSION,
    Condition,
    ConditionStatus,
    ObjectMeta,
    QoS,
)
from kovirt.api.v1alpha1.datacenter import DataCenter, DataCenterSpec, DataCenterStatus
from kovirt.api.v1alpha1.diskimage import DiskImage, DiskImageSpec, DiskImageStatus
from kovirt.api.v1alpha1.host import Host, HostSpec, HostStatus
from kovirt.api.v1alpha1.storagedomain import (
    StorageDomain,
    StorageDomainSpec,
    StorageDomainStatus,
)
from kovirt.api.v1alpha1.virtualmachine import (
    VirtualMachine,
    VirtualMachineSpec,
    VirtualMachineStatus,
)

#: Every top-level kind, in the order resources depend on each other.
KINDS = (DataCenter, StorageDomain, DiskImage, VirtualMachine, Host)

__all__ = [
    "GROUP",
    "KINDS",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "DataCenter",
    "DataCenterSpec",
    "DataCenterStatus",
    "DiskImage",
    "DiskImageSpec",
    "DiskImageStatus",
    "Host",
    "HostSpec",
    "HostStatus",
    "ObjectMeta",
    "QoS",
    "StorageDomain",
    "StorageDomainSpec",
    "StorageDomainStatus",
    "VirtualMachine",
    "VirtualMachineSpec",
    "VirtualMachineStatus",
]
