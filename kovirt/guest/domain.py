"""Domains that run the test guest: what tests and the demo define in libvirt.

Not the node agent's builder (that one maps a VirtualMachine spec); this composes the
same domxml objects for the guest this package builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from kovirt.domxml import (
    AuthSecret,
    BootOrder,
    CharLog,
    Console,
    Devices,
    Disk,
    DiskAuth,
    DiskDriver,
    DiskSource,
    DiskTarget,
    Domain,
    Features,
    Flag,
    Iotune,
    Memory,
    Metadata,
    Os,
    Serial,
    SerialTarget,
    SourceHost,
    Sysinfo,
    SysinfoEntry,
    Vcpu,
)
from kovirt.guest.build import GuestArtifacts
from kovirt.guest.init import FW_CFG_NAME, GuestArgs


def guest_domain(
    name: str,
    artifacts: GuestArtifacts,
    *,
    domain_type: Literal["kvm", "qemu"],
    serial_log: Path,
    disks: list[Disk],
    args: GuestArgs | None = None,
    boot: Literal["disk", "kernel"] = "disk",
    memory_mib: int = 128,
    uuid: str | None = None,
    metadata: Metadata | None = None,
) -> Domain:
    """A test-guest domain; `boot='disk'` boots the first disk with `<boot order='1'>`."""
    args = args or GuestArgs()
    if boot == "kernel":
        os = Os(
            kernel=str(artifacts.kernel),
            initrd=str(artifacts.initramfs),
            cmdline=artifacts.cmdline(args),
        )
        sysinfo = []
    else:
        os = Os()
        # The disk image's boot entry has fixed defaults; per-VM words come by fw_cfg.
        sysinfo = [Sysinfo(entries=[SysinfoEntry(name=FW_CFG_NAME, value=args.words())])]
    return Domain(
        type=domain_type,
        name=name,
        uuid=uuid,
        metadata=metadata,
        memory=Memory.mib(memory_mib),
        vcpu=Vcpu(value=1),
        sysinfo=sysinfo,
        os=os,
        # ACPI: without it the guest's `poweroff -f` leaves QEMU running.
        features=Features(acpi=Flag()),
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        devices=Devices(disks=disks, **serial_console(serial_log)),
    )


def serial_console(log_file: Path) -> dict[str, list]:
    """A pty serial port (so `virsh console` works) whose output virtlogd also logs."""
    serial = Serial(type="pty", log=CharLog(file=str(log_file), append="off"))
    serial.target = SerialTarget(port=0)
    console = Console(type="pty", target=SerialTarget(type="serial", port=0))
    return {"serials": [serial], "consoles": [console]}


def file_disk(path: Path, dev: str, *, boot_order: int | None = None) -> Disk:
    """A local raw file as a virtio disk (for tests before Ceph is around)."""
    return Disk(
        type="file",
        driver=DiskDriver(type="raw", cache="none", io="native"),
        source=DiskSource(file=str(path)),
        target=DiskTarget(dev=dev, bus="virtio"),
        boot=BootOrder(order=boot_order) if boot_order else None,
    )


def rbd_disk(
    pool_image: str,
    dev: str,
    *,
    monitors: list[tuple[str, int]],
    username: str,
    secret_uuid: str,
    boot_order: int | None = None,
    iotune: Iotune | None = None,
) -> Disk:
    """An RBD network disk authenticated as `username` with the key in a libvirt secret."""
    return Disk(
        type="network",
        driver=DiskDriver(type="raw", cache="writeback", discard="unmap"),
        auth=DiskAuth(username=username, secret=AuthSecret(type="ceph", uuid=secret_uuid)),
        source=DiskSource(
            protocol="rbd",
            name=pool_image,
            hosts=[SourceHost(name=host, port=port) for host, port in monitors],
        ),
        target=DiskTarget(dev=dev, bus="virtio"),
        iotune=iotune,
        boot=BootOrder(order=boot_order) if boot_order else None,
    )
