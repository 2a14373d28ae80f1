"""`kovirt-libvirtd`: the libvirt pod's main process (libvirtd + virtlogd of one host).

Why a pod of its own: QEMU processes are libvirtd's children and live in its container,
so libvirtd must outlive agent upgrades. The libvirt DaemonSet uses `updateStrategy:
OnDelete`; the agent DaemonSet rolls freely and reaches libvirtd over the socket in a
host folder both pods mount (per node: `<run dir>/<node>/libvirt`).

What this launcher does, in order:
1. writes libvirtd.conf and qemu.conf (QEMU as root without a security driver or
   per-domain cgroups: the pod is the boundary; socket open to root only);
2. removes `/dev/kvm` from the container when guests run in software emulation, either
   because the DataCenter asks `hypervisor: qemu` or because the agent's KVM probe (a file
   in the shared state folder) found KVM broken; with the device present libvirt keeps
   probing it and every `virsh create` hangs for seconds;
3. runs virtlogd and libvirtd as children and exits when either dies (the kubelet restarts
   the container); SIGTERM stops both and leaves the guests to the container's end.

It must not be PID 1 (the image's tini is): as PID 1 libvirtd's QEMU probe children stay
zombies and `virsh create` hangs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("kovirt.libvirtd")

LIBVIRTD_CONF = """\
# Written by kovirt-libvirtd at every start.
unix_sock_dir = "/run/libvirt"
unix_sock_group = "root"
unix_sock_ro_perms = "0770"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:stderr"
"""

# QEMU as root without a security driver, owner changes or per-domain /dev namespace: the
# pod (or the local stack's private instance) is the boundary. Shared with the local stack.
QEMU_SETTINGS = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = []
stdio_handler = "logd"
"""
# cgroup_controllers = []: QEMU stays in the pod's cgroup, so the pod's resources account
# for its guests and libvirt never writes into the kubelet's cgroup tree.
QEMU_CONF = (
    "# Written by kovirt-libvirtd at every start.\n" + QEMU_SETTINGS + "cgroup_controllers = []\n"
)

POLL_S = 1.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Settings:
    hypervisor: str = field(default_factory=lambda: os.environ.get("KOVIRT_HYPERVISOR", "auto"))
    state_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("KOVIRT_STATE_DIR", "/var/lib/kovirt"))
    )
    config_dir: Path = Path("/etc/libvirt")
    run_dir: Path = Path("/run/libvirt")
    kvm_device: Path = Path("/dev/kvm")

    @property
    def probe_file(self) -> Path:
        """Written by the agent's KVM probe (kovirt.node_agent.hypervisor)."""
        return self.state_dir / "hypervisor-probe.json"


def write_config(settings: Settings) -> None:
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    (settings.config_dir / "libvirtd.conf").write_text(LIBVIRTD_CONF)
    (settings.config_dir / "qemu.conf").write_text(QEMU_CONF)
    # Debian's package autostarts a NAT network (virbr0 + dnsmasq): not on a host's network.
    for link in (settings.config_dir / "qemu" / "networks" / "autostart").glob("*.xml"):
        link.unlink()


def emulation_wanted(settings: Settings) -> str | None:
    """Why guests run without KVM here, or None when KVM is (or may be) used."""
    if settings.hypervisor == "qemu":
        return "the DataCenter asks hypervisor: qemu"
    if settings.hypervisor != "auto":
        return None
    try:
        probe = json.loads(settings.probe_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if probe.get("mode") == "qemu" and probe.get("kernel") == os.uname().release:
        return f"the agent's KVM probe: {probe.get('reason', 'KVM does not run guests')}"
    return None


def hide_kvm(settings: Settings) -> bool:
    """Remove the container's /dev/kvm node (the host's stays); True when one was removed."""
    try:
        settings.kvm_device.unlink()
    except FileNotFoundError:
        return False
    return True


class Supervisor:
    """virtlogd and libvirtd as children; one restart of libvirtd when the probe asks it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def start(self, name: str) -> None:
        argv = {"virtlogd": ["virtlogd"], "libvirtd": ["libvirtd"]}[name]
        self.children[name] = subprocess.Popen(argv)
        log.info("started %s (pid %d)", name, self.children[name].pid)

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.start("virtlogd")
        self._wait_for(self.settings.run_dir / "virtlogd-sock", "virtlogd")
        self.start("libvirtd")
        while not self.stopping:
            for name, child in list(self.children.items()):
                if child.poll() is not None:
                    log.error("%s exited (%s): stopping the pod", name, child.returncode)
                    self.shutdown()
                    return 1
            self._follow_probe()
            time.sleep(POLL_S)
        self.shutdown()
        return 0

    def shutdown(self) -> None:
        for name in ("libvirtd", "virtlogd"):
            self.stop(name)

    def _follow_probe(self) -> None:
        """Once the agent found KVM broken, drop /dev/kvm and restart libvirtd (guests keep
        running: they are not libvirtd's to stop, and the new libvirtd finds them again)."""
        if not self.settings.kvm_device.exists():
            return
        reason = emulation_wanted(self.settings)
        if reason and hide_kvm(self.settings):
            log.info("removed %s (%s); restarting libvirtd", self.settings.kvm_device, reason)
            self.stop("libvirtd")
            self.start("libvirtd")

    def _wait_for(self, path: Path, what: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not create {path} within {timeout_s:.0f}s")
            time.sleep(0.1)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("signal %d: stopping libvirtd and virtlogd", signum)
        self.stopping = True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if os.getpid() == 1:
        raise SystemExit("kovirt-libvirtd must not be PID 1: run it under tini")
    settings = Settings()
    write_config(settings)
    reason = emulation_wanted(settings)
    if reason and hide_kvm(settings):
        log.info("removed %s: %s", settings.kvm_device, reason)
    return Supervisor(settings).run()


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
