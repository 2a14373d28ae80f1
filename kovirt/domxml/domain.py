"""`<domain>`: the whole guest definition, built from the parts in this package.

Pure data: no defaults that encode policy beyond what libvirt itself would assume.
Which values a kovirt VM gets (machine type, cpu mode per hypervisor, iotune from QoS) is
decided by the node agent's builder steps, not here.
"""

from __future__ import annotations

from typing import Literal

from pydantic_xml import attr, element

from kovirt.domxml.base import Flag, XmlModel
from kovirt.domxml.chardev import Console, Serial
from kovirt.domxml.disk import Disk
from kovirt.domxml.interface import Interface
from kovirt.domxml.metadata import Metadata
from kovirt.domxml.sysinfo import Sysinfo


class Memory(XmlModel, tag="memory"):
    """Maximum memory; libvirt reports it in KiB whatever unit it was given in."""

    unit: str = attr(default="KiB")
    value: int

    @classmethod
    def mib(cls, mebibytes: int) -> Memory:
        return cls(unit="KiB", value=mebibytes * 1024)

    @property
    def kib(self) -> int:
        factor = {"b": 1 / 1024, "bytes": 1 / 1024, "KiB": 1, "k": 1, "MiB": 1024, "M": 1024}
        factor |= {"GiB": 1024**2, "G": 1024**2}
        return int(self.value * factor[self.unit])


class CurrentMemory(Memory, tag="currentMemory"):
    pass


class Vcpu(XmlModel, tag="vcpu"):
    placement: str | None = attr(default=None)
    value: int


class OsType(XmlModel, tag="type"):
    arch: str | None = attr(default=None)
    machine: str | None = attr(default=None)
    value: str = "hvm"


class BootDevice(XmlModel, tag="boot"):
    """Domain-wide boot device order; per-disk `<boot order>` is the finer alternative."""

    dev: Literal["hd", "cdrom", "network", "fd"] = attr()


class Bios(XmlModel, tag="bios"):
    """SeaBIOS options; `useserial='yes'` prints the BIOS banner on the serial port."""

    useserial: Literal["yes", "no"] | None = attr(default=None)
    reboot_timeout: int | None = attr(name="rebootTimeout", default=None)


class Os(XmlModel, tag="os"):
    """Firmware and boot: direct kernel boot (kernel/initrd/cmdline) or boot devices."""

    type: OsType = element(default_factory=OsType)
    kernel: str | None = element(default=None)
    initrd: str | None = element(default=None)
    cmdline: str | None = element(default=None)
    boot: list[BootDevice] = element(default_factory=list)
    bios: Bios | None = element(default=None)


class Features(XmlModel, tag="features"):
    # ACPI matters beyond looks: without it a guest's `poweroff -f` leaves QEMU running.
    acpi: Flag | None = element(tag="acpi", default=None)
    apic: Flag | None = element(tag="apic", default=None)
    pae: Flag | None = element(tag="pae", default=None)


class CpuModel(XmlModel, tag="model"):
    fallback: str | None = attr(default=None)
    value: str


class Cpu(XmlModel, tag="cpu"):
    """`host-passthrough` needs KVM; software emulation takes a named model (mode custom)."""

    mode: Literal["host-passthrough", "host-model", "custom", "maximum"] | None = attr(default=None)
    match: str | None = attr(default=None)
    check: str | None = attr(default=None)
    migratable: Literal["on", "off"] | None = attr(default=None)
    model: CpuModel | None = element(default=None)


class Clock(XmlModel, tag="clock"):
    offset: Literal["utc", "localtime", "timezone", "variable"] = attr(default="utc")


class Devices(XmlModel, tag="devices"):
    emulator: str | None = element(default=None)
    disks: list[Disk] = element(default_factory=list)
    interfaces: list[Interface] = element(default_factory=list)
    serials: list[Serial] = element(default_factory=list)
    consoles: list[Console] = element(default_factory=list)

    def disk(self, target_dev: str) -> Disk | None:
        """The disk attached as `target_dev` (e.g. 'vda'), if any."""
        return next((d for d in self.disks if d.target.dev == target_dev), None)


Lifecycle = Literal["destroy", "restart", "preserve", "rename-restart", "coredump-destroy"]


class Domain(XmlModel, tag="domain"):
    """A libvirt domain. `type='kvm'` uses KVM, `type='qemu'` software emulation (TCG)."""

    type: Literal["kvm", "qemu"] = attr(default="kvm")
    # Only in a running domain's XML; never set it when defining.
    id: int | None = attr(default=None)
    name: str = element()
    uuid: str | None = element(default=None)
    title: str | None = element(default=None)
    description: str | None = element(default=None)
    metadata: Metadata | None = element(default=None)
    memory: Memory = element()
    current_memory: CurrentMemory | None = element(default=None)
    vcpu: Vcpu = element()
    sysinfo: list[Sysinfo] = element(default_factory=list)
    os: Os = element(default_factory=Os)
    features: Features | None = element(default=None)
    cpu: Cpu | None = element(default=None)
    clock: Clock | None = element(default=None)
    on_poweroff: Lifecycle | None = element(default=None)
    on_reboot: Lifecycle | None = element(default=None)
    on_crash: Lifecycle | None = element(default=None)
    devices: Devices = element(default_factory=Devices)
