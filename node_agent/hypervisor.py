"""`hypervisor: auto | kvm | qemu`: which libvirt domain type this host's guests get.

auto means KVM only when a real guest runs under KVM here. `/dev/kvm` existing proves
nothing (nested hosts without vmx/svm open it, and a Linux kernel then spins silently), so
the probe boots a kernel in a `type='kvm'` transient domain and waits for its banner on the
serial port. The result is cached per host name and kernel release in the state folder.

Copied in spirit from kovirt.localstack.libvirt (the local stack's probe): the layering
contract puts the local stack above the agent, so the agent cannot import it.
"""

from __future__ import annotations

import contextlib
import json
import platform
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from kovirt.domxml import (
    CharSource,
    Devices,
    Domain,
    Features,
    Flag,
    Memory,
    Os,
    Serial,
    SerialTarget,
    Vcpu,
)
from kovirt.errors import MissingDependency
from kovirt.node_agent.config import HypervisorMode
from kovirt.node_agent.virt import Hypervisor, LibvirtFailure

PROBE_PREFIX = "kovirt-probe-"
PROBE_BANNER = b"Linux version"
PROBE_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class ProbeResult:
    host: str
    kernel: str
    mode: Literal["kvm", "qemu"]
    reason: str
    seconds: float


def choose_mode(
    wanted: HypervisorMode,
    hypervisor: Hypervisor,
    state_dir: Path,
    probe_kernel: Path | None = None,
    host: str | None = None,
) -> ProbeResult:
    """The mode to use and why: as asked, or for auto the cached or a fresh probe.

    The cache is keyed by host name (the agent's Host, not its pod's name, which changes on
    every rollout) and kernel release; the libvirt pod reads it too (kovirt-libvirtd)."""
    host, release = host or socket.gethostname(), platform.release()
    if wanted in ("kvm", "qemu"):
        return ProbeResult(host, release, wanted, f"hypervisor: {wanted} asked", 0.0)
    cache = state_dir / "hypervisor-probe.json"
    cached = read_cache(cache, host, release)
    if cached is not None:
        return cached
    started = time.monotonic()
    if not hypervisor.offers_kvm():
        mode, reason = "qemu", "libvirtd offers no KVM domains (no usable /dev/kvm)"
    else:
        kernel = probe_kernel or find_probe_kernel()
        mode, reason = run_probe(hypervisor, kernel, state_dir / "probe")
    result = ProbeResult(host, release, mode, reason, round(time.monotonic() - started, 2))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def read_cache(path: Path, host: str, release: str) -> ProbeResult | None:
    try:
        result = ProbeResult(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return result if (result.host, result.kernel) == (host, release) else None


def probe_domain(name: str, kernel: Path, serial_file: Path) -> Domain:
    """A diskless type='kvm' guest booting `kernel`, serial port to a file.

    No initrd: the kernel panics looking for a root fs and, with panic=-1 and
    on_reboot=destroy, the domain ends by itself.
    """
    serial = Serial(type="file", source=CharSource(path=str(serial_file)))
    serial.target = SerialTarget(port=0)
    return Domain(
        type="kvm",
        name=name,
        memory=Memory.mib(128),
        vcpu=Vcpu(value=1),
        os=Os(kernel=str(kernel), cmdline="console=ttyS0 panic=-1"),
        features=Features(acpi=Flag()),
        on_poweroff="destroy",
        on_reboot="destroy",
        on_crash="destroy",
        devices=Devices(serials=[serial]),
    )


def run_probe(
    hypervisor: Hypervisor, kernel: Path, log_dir: Path, timeout_s: float = PROBE_TIMEOUT_S
) -> tuple[Literal["kvm", "qemu"], str]:
    log_dir.mkdir(parents=True, exist_ok=True)
    name = f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}"
    log = log_dir / f"{name}.log"
    try:
        guest = hypervisor.create_transient(probe_domain(name, kernel, log))
    except LibvirtFailure as error:
        return "qemu", f"a type='kvm' guest could not start: {error}"
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if log.exists() and PROBE_BANNER in log.read_bytes():
                return "kvm", "a type='kvm' guest booted a Linux kernel"
            time.sleep(0.1)
        return "qemu", f"a type='kvm' guest's kernel printed nothing in {timeout_s:.0f}s"
    finally:
        with contextlib.suppress(LibvirtFailure):
            guest.destroy()
        log.unlink(missing_ok=True)


def find_probe_kernel() -> Path:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        raise MissingDependency(
            "hypervisor: auto boots a Linux kernel to test KVM and /boot has none: "
            "apt-get install -y linux-image-cloud-amd64 (or pass --probe-kernel)"
        )
    return kernels[-1]
