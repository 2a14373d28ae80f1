"""A VirtualMachine becomes a libvirt Domain in small steps, each tested on its own.

Policy lives here (kubevirt's converter, nova's designer); `kovirt.domxml` only carries
values. `build_domain` runs STEPS in order over an empty Domain:

    domain = build_domain(vm, facts)
    xml = domain.format_xml()
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kovirt.api.quantity import quantity_to_int
from kovirt.api.v1alpha1 import QoS, VirtualMachine
from kovirt.api.v1alpha1.virtualmachine import Disk as SpecDisk
from kovirt.api.v1alpha1.virtualmachine import DiskStatus
from kovirt.domxml import (
    AuthSecret,
    BootOrder,
    CharLog,
    Console,
    Cpu,
    Disk,
    DiskAuth,
    DiskDriver,
    DiskSource,
    DiskTarget,
    Domain,
    Features,
    Flag,
    Interface,
    InterfaceModel,
    Iotune,
    KovirtVm,
    MacAddress,
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
from kovirt.errors import KovirtError

FW_CFG_PREFIX = "opt/kovirt/"


class BuildError(KovirtError):
    """The spec cannot become a domain yet (a disk not provisioned, an unsupported option)."""

    reason = "InvalidSpec"


@dataclass(frozen=True)
class HostFacts:
    """What the builder needs to know about this host and the agent's Ceph identity."""

    domain_type: Literal["kvm", "qemu"]
    monitors: list[tuple[str, int]]
    ceph_user: str
    secret_uuid: str
    console_dir: Path
    #: StorageDomain name -> its spec.qos default (absent: no default limits).
    domain_qos: Mapping[str, QoS] = field(default_factory=dict)


Step = Callable[[VirtualMachine, HostFacts, Domain], None]


def set_identity(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    """uuid = the CR uid; kovirt metadata tells a stale domain from a new same-named VM."""
    domain.type = host.domain_type
    domain.uuid = vm.metadata.uid
    domain.metadata = Metadata(
        kovirt=KovirtVm(
            uid=vm.metadata.uid or "",
            namespace=vm.metadata.namespace or "",
            name=vm.metadata.name,
            generation=vm.metadata.generation or 0,
        )
    )


def set_cpu(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    domain.vcpu = Vcpu(value=vm.spec.cpus)
    # host-passthrough needs KVM; TCG keeps QEMU's default model (no <cpu> at all).
    domain.cpu = Cpu(mode="host-passthrough") if host.domain_type == "kvm" else None


def set_memory(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    domain.memory = Memory(unit="KiB", value=quantity_to_int(vm.spec.memory) // 1024)


def set_machine_and_features(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    if vm.spec.firmware != "bios":
        raise BuildError(f"firmware {vm.spec.firmware} is not supported yet (use bios)")
    domain.os.type.arch = "x86_64"
    domain.os.type.machine = vm.spec.machine
    # ACPI: graceful shutdown needs it, and without it a guest's poweroff leaves QEMU up.
    domain.features = Features(acpi=Flag(), apic=Flag())
    # The agent decides what a stop means (run strategy), so QEMU just ends on each.
    domain.on_poweroff = "destroy"
    domain.on_reboot = "restart"
    domain.on_crash = "destroy"


def set_kernel_boot(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    boot = vm.spec.kernel_boot
    if boot is None:
        return
    domain.os.kernel = boot.kernel
    domain.os.initrd = boot.initrd
    domain.os.cmdline = boot.cmdline or None


def iotune_from_qos(qos: QoS | None) -> Iotune | None:
    """QoS -> <iotune>: sustained limits, burst maxima and how long a burst may last."""
    if qos is None:
        return None
    values: dict[str, int] = {}
    for measure, limits in (("iops_sec", qos.iops_per_second), ("bytes_sec", qos.bytes_per_second)):
        for direction in ("total", "read", "write"):
            value = getattr(limits, direction) if limits else None
            if value is not None:
                values[f"{direction}_{measure}"] = value
    if qos.burst is not None:
        for measure, limits in (
            ("iops_sec", qos.burst.iops_per_second),
            ("bytes_sec", qos.burst.bytes_per_second),
        ):
            for direction in ("total", "read", "write"):
                value = getattr(limits, direction) if limits else None
                if value is not None:
                    values[f"{direction}_{measure}_max"] = value
                    values[f"{direction}_{measure}_max_length"] = qos.burst.length_seconds
    return Iotune(**values) if values else None


def target_dev(bus: str, index: int) -> str:
    """vda, vdb, ... for virtio; sda, sdb, ... for scsi and sata."""
    prefix = "vd" if bus == "virtio" else "sd"
    return prefix + "abcdefghijklmnopqrstuvwxyz"[index]


def rbd_disk(spec: SpecDisk, state: DiskStatus, index: int, host: HostFacts) -> Disk:
    if not state.pool or not state.image:
        raise BuildError(f"disk {spec.name} has no RBD image yet", reason="DiskNotProvisioned")
    qos = spec.qos or host.domain_qos.get(spec.storage_domain)
    return Disk(
        type="network",
        device="disk",
        driver=DiskDriver(type="raw", cache=spec.cache, discard=spec.discard),
        auth=DiskAuth(
            username=host.ceph_user, secret=AuthSecret(type="ceph", uuid=host.secret_uuid)
        ),
        source=DiskSource(
            protocol="rbd",
            name=f"{state.pool}/{state.image}",
            hosts=[SourceHost(name=name, port=port) for name, port in host.monitors],
        ),
        target=DiskTarget(dev=target_dev(spec.bus, index), bus=spec.bus),
        iotune=iotune_from_qos(qos),
        boot=BootOrder(order=spec.boot_order) if spec.boot_order else None,
        serial=spec.name,
    )


def add_rbd_disks(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    states = {d.name: d for d in vm.status.disks}
    counters: dict[str, int] = {}
    disks = []
    for spec in vm.spec.disks:
        family = "virtio" if spec.bus == "virtio" else "sd"
        index = counters.get(family, 0)
        counters[family] = index + 1
        disks.append(rbd_disk(spec, states.get(spec.name, DiskStatus(name=spec.name)), index, host))
    # Per-device boot order and <os><boot> cannot be mixed; with no order asked, the
    # first disk boots (unless a kernel is booted directly).
    if disks and vm.spec.kernel_boot is None and all(d.boot is None for d in disks):
        disks[0].boot = BootOrder(order=1)
    domain.devices.disks = disks


def add_serial_console(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    """A pty serial port (virsh console works) that virtlogd also copies to a log file."""
    serial = Serial(
        type="pty",
        log=CharLog(file=str(console_log_path(host.console_dir, vm)), append="on"),
        target=SerialTarget(port=0),
    )
    console = Console(type="pty", target=SerialTarget(type="serial", port=0))
    domain.devices.serials = [serial]
    domain.devices.consoles = [console]


def console_log_path(console_dir: Path, vm: VirtualMachine) -> Path:
    return console_dir / f"{vm.domain_name}.log"


def mac_address(uid: str, network: str) -> str:
    """Stable per VM and network, so a restarted guest keeps its MAC (QEMU's 52:54:00 OUI)."""
    digest = hashlib.sha256(f"{uid}/{network}".encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def add_nics(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    nics = []
    for network in vm.spec.networks:
        if network.type != "user":
            raise BuildError(f"network {network.name}: type {network.type} is not supported yet")
        nics.append(
            Interface(
                type="user",
                mac=MacAddress(address=mac_address(vm.metadata.uid or "", network.name)),
                model=InterfaceModel(type="virtio"),
            )
        )
    domain.devices.interfaces = nics


def add_guest_config(vm: VirtualMachine, host: HostFacts, domain: Domain) -> None:
    """spec.guestConfig -> fw_cfg files opt/kovirt/<key> the guest reads under /sys/firmware."""
    if not vm.spec.guest_config:
        domain.sysinfo = []
        return
    entries = [
        SysinfoEntry(name=f"{FW_CFG_PREFIX}{key}", value=value)
        for key, value in sorted(vm.spec.guest_config.items())
    ]
    domain.sysinfo = [Sysinfo(type="fwcfg", entries=entries)]


STEPS: tuple[Step, ...] = (
    set_identity,
    set_cpu,
    set_memory,
    set_machine_and_features,
    set_kernel_boot,
    add_rbd_disks,
    add_serial_console,
    add_nics,
    add_guest_config,
)


def build_domain(vm: VirtualMachine, host: HostFacts) -> Domain:
    domain = Domain(name=vm.domain_name, memory=Memory(value=0), vcpu=Vcpu(value=1), os=Os())
    for step in STEPS:
        step(vm, host, domain)
    return domain
