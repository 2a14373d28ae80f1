"""Agent settings: every one comes from a flag or an environment variable (see main.py).

The same code runs as a host process in the local stack and as the DaemonSet's container,
so nothing here assumes a host path: libvirt URI, state folder and Ceph identity are given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

#: Label the operator puts on a VM once placed; the agent lists and watches by it.
HOST_LABEL = "kovirt.io/host"
#: Finalizer the agent holds while a guest may still use the VM's disks. The operator
#: waits for it to go before it removes the RBD images.
AGENT_FINALIZER = "kovirt.io/node-agent"
#: Every domain kovirt runs is named kovirt-<namespace>-<name> (VirtualMachine.domain_name).
DOMAIN_PREFIX = "kovirt-"
AGENT_VERSION = "0.1.0"

HypervisorMode = Literal["auto", "kvm", "qemu"]


@dataclass(frozen=True)
class AgentConfig:
    host_name: str
    data_center: str
    ceph_monitors: str
    ceph_user: str
    ceph_key: str
    libvirt_uri: str = "qemu:///system"
    hypervisor: HypervisorMode = "auto"
    #: pod: libvirtd is kovirt-libvirtd's (the libvirt DaemonSet), which drops /dev/kvm when
    #: the probe says emulation; host: any other libvirtd (the host's, the local stack's).
    libvirt_mode: str = "host"
    host_labels: dict[str, str] = field(default_factory=dict)
    namespace: str = "kovirt-system"
    state_dir: Path = Path("/var/lib/kovirt-agent")
    metrics_port: int = 9474
    #: The Lease counts as stale after this; renewed every lease_duration_s / 4.
    lease_duration_s: int = 20
    #: Level-based resync: desired vs actual is compared at least this often.
    resync_s: float = 5.0
    #: Graceful ACPI shutdown gets this long before the domain is destroyed.
    stop_timeout_s: float = 30.0
    #: Host memory kept back for the host itself (not offered to VMs).
    memory_reserve_bytes: int = 1 << 30
    #: Kernel booted by the `hypervisor: auto` probe (default: newest /boot/vmlinuz-*).
    probe_kernel: Path | None = None

    @property
    def label_selector(self) -> str:
        return f"{HOST_LABEL}={self.host_name}"

    @property
    def lease_name(self) -> str:
        return f"kovirt-host-{self.host_name}"

    @property
    def console_dir(self) -> Path:
        return self.state_dir / "console"

    @property
    def renew_interval_s(self) -> float:
        return max(1.0, self.lease_duration_s / 4)


def parse_labels(text: str) -> dict[str, str]:
    """`a=b,c=d` -> {"a": "b", "c": "d"} (the KOVIRT_HOST_LABELS format)."""
    labels = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"host label {item!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels


def parse_monitors(text: str) -> list[tuple[str, int]]:
    """Monitor addresses as libvirt wants them, from any form Ceph prints.

    `[v2:127.0.0.1:3300/0,v1:127.0.0.1:6789/0]` -> [("127.0.0.1", 3300)] (v2 preferred:
    QEMU's librbd speaks it); `10.0.0.1:6789,10.0.0.2` -> both, a bare host on 6789.
    """
    v2 = re.findall(r"v2:([0-9A-Za-z.\-]+):(\d+)", text)
    if v2:
        return [(host, int(port)) for host, port in v2]
    found = []
    for item in re.split(r"[,\s;]+", text.strip("[] ")):
        item = re.sub(r"^v1:", "", item).split("/", 1)[0]
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "6789")
        found.append((host, int(port)))
    return found
