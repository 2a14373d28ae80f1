"""libvirt XML as typed objects that serialise and parse both ways (nova's config.py idea).

The classes make no policy decisions; the node agent's builder composes them. Example::

    domain = Domain(type="qemu", name="vm-a", memory=Memory.mib(256), vcpu=Vcpu(value=1))
    xml = domain.format_xml()
    assert Domain.parse_xml(xml) == domain
"""

from kovirt.domxml.base import Flag, XmlModel
from kovirt.domxml.chardev import CharLog, CharSource, Console, Serial, SerialTarget, TargetModel
from kovirt.domxml.disk import (
    Alias,
    AuthSecret,
    BootOrder,
    Disk,
    DiskAuth,
    DiskDriver,
    DiskSource,
    DiskTarget,
    Iotune,
    SourceHost,
)
from kovirt.domxml.domain import (
    Bios,
    BootDevice,
    Clock,
    Cpu,
    CpuModel,
    CurrentMemory,
    Devices,
    Domain,
    Features,
    Memory,
    Os,
    OsType,
    Vcpu,
)
from kovirt.domxml.interface import Interface, InterfaceModel, InterfaceSource, MacAddress
from kovirt.domxml.metadata import KOVIRT_XMLNS, KovirtVm, Metadata
from kovirt.domxml.secret import Secret, SecretUsage
from kovirt.domxml.sysinfo import Sysinfo, SysinfoEntry

__all__ = [
    "KOVIRT_XMLNS",
    "Alias",
    "AuthSecret",
    "Bios",
    "BootDevice",
    "BootOrder",
    "CharLog",
    "CharSource",
    "Clock",
    "Console",
    "Cpu",
    "CpuModel",
    "CurrentMemory",
    "Devices",
    "Disk",
    "DiskAuth",
    "DiskDriver",
    "DiskSource",
    "DiskTarget",
    "Domain",
    "Features",
    "Flag",
    "Interface",
    "InterfaceModel",
    "InterfaceSource",
    "Iotune",
    "KovirtVm",
    "MacAddress",
    "Memory",
    "Metadata",
    "Os",
    "OsType",
    "Secret",
    "SecretUsage",
    "Serial",
    "SerialTarget",
    "SourceHost",
    "Sysinfo",
    "SysinfoEntry",
    "TargetModel",
    "Vcpu",
    "XmlModel",
]
