"""A private libvirtd + virtlogd for the local stack, started as plain processes.

Why a private instance, and how: libvirt 9 hard-codes a root daemon's state paths
(`/etc/libvirt`, `/run/libvirt`, `/var/lib/libvirt`, `/var/cache/libvirt`,
`/var/log/libvirt`); only the client socket directory (`unix_sock_dir`) and the pid file
can be moved by configuration, and session mode is not available to root. So both
daemons run in a mount namespace of their own in which our folders under
`state_dir("libvirt")/overlay/` are bind-mounted over those five paths. A system libvirtd
(if any) keeps its own files, secrets and domains; ours reads our qemu.conf and keeps its
domains, secrets and QEMU capability cache in our folders. The socket lives outside the
overlay, so clients on the host reach it through `qemu+unix:///system?socket=...`.

The first daemon started creates the namespace (`unshare --mount`); the other joins it
(`nsenter --mount=/proc/<pid>/ns/mnt`). QEMU processes are libvirtd's children and stay
in the namespace; a restarted libvirtd finds them again through the same overlay folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack.paths import state_dir
from kovirt.localstack.process import Daemon, wait_until
from kovirt.node_agent.hypervisor import find_probe_kernel, probe_domain

# One KVM probe and one set of QEMU settings for the agent's libvirt pod and the local stack
# (the layers let localstack import the agent's modules).
from kovirt.node_agent.libvirtd import QEMU_SETTINGS

HypervisorMode = Literal["auto", "kvm", "qemu"]

# Our folder name under overlay/ -> the path libvirt insists on when it runs as root.
OVERLAYS: dict[str, str] = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}

# QEMU runs as root with no security driver and no per-domain /dev namespace: the local
# stack's guests read kernels and images from our cache folder and write serial logs to our
# state folder, and the namespace feature would need mount propagation we keep private.
QEMU_CONF = "# Written by kovirt's local stack; read by our private libvirtd only.\n" + (
    QEMU_SETTINGS
)

PROBE_PREFIX = "kovirt-probe-"
PROBE_TIMEOUT_S = 8.0
PROBE_BANNER = b"Linux version"
INSTALL_HINT = "apt-get install -y libvirt-daemon-system libvirt-clients qemu-system-x86"


@dataclass(frozen=True)
class HypervisorProbe:
    """What `hypervisor: auto` found on this host, kept so it is probed once per host."""

    host: str
    kernel: str
    mode: Literal["kvm", "qemu"]
    reason: str
    seconds: float


@dataclass(frozen=True)
class LibvirtStatus:
    running: bool
    uri: str
    libvirtd_pid: int | None
    virtlogd_pid: int | None
    libvirt_version: str | None = None
    qemu_version: str | None = None
    hypervisor: str | None = None


@dataclass(frozen=True)
class LibvirtStack:
    """The private libvirt instance rooted at `root` (default `state_dir("libvirt")`)."""

    root: Path

    @classmethod
    def default(cls) -> LibvirtStack:
        return cls(state_dir("libvirt"))

    # -- where things are -------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def socket(self) -> Path:
        return self.socket_dir / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.socket}"

    @property
    def overlay(self) -> Path:
        return self.root / "overlay"

    @property
    def guest_log_dir(self) -> Path:
        """A folder for serial-console logs of guests run on this stack."""
        return self.root / "guests"

    @property
    def probe_file(self) -> Path:
        return self.root / "hypervisor-probe.json"

    @property
    def virtlogd(self) -> Daemon:
        return Daemon("virtlogd", self.root / "pids", self.root / "logs")

    @property
    def libvirtd(self) -> Daemon:
        return Daemon("libvirtd", self.root / "pids", self.root / "logs")

    # -- lifecycle ----------------------------------------------------------------------

    def up(
        self,
        hypervisor: HypervisorMode = "auto",
        *,
        probe_kernel: Path | None = None,
        timeout_s: float = 60.0,
    ) -> LibvirtStatus:
        """Start what is not running yet (idempotent) and settle the hypervisor mode."""
        binaries = _require_binaries()
        self._write_config()
        if not self.virtlogd.running():
            pid = self._start_in_namespace(
                self.virtlogd, binaries["virtlogd"], self._virtlogd_args()
            )
            wait_until(
                lambda: self._virtlogd_socket().exists() or not _exists(pid),
                timeout_s,
                what="virtlogd's socket",
            )
            self._raise_if_died(self.virtlogd)
        if not self.libvirtd.running():
            self.socket.unlink(missing_ok=True)
            pid = self._start_in_namespace(
                self.libvirtd, binaries["libvirtd"], self._libvirtd_args()
            )
            wait_until(
                lambda: self._answers() or not _exists(pid),
                timeout_s,
                interval_s=0.2,
                what=f"libvirtd to answer on {self.socket}",
            )
            self._raise_if_died(self.libvirtd)
        self.hypervisor(hypervisor, probe_kernel=probe_kernel)
        return self.status()

    def down(self, *, destroy_guests: bool = True) -> list[str]:
        """Stop exactly our two daemons; return what was stopped.

        Guests still running in our private instance are destroyed first (they can only
        have been started through it, and a QEMU without its libvirtd would leak);
        definitions, secrets and state on disk stay for the next `up`.
        """
        stopped: list[str] = []
        if destroy_guests and self.libvirtd.running():
            stopped += [f"domain {name}" for name in self._destroy_running_guests()]
        for daemon in (self.libvirtd, self.virtlogd):
            if daemon.stop(timeout_s=15.0):
                stopped.append(daemon.name)
        return stopped

    def status(self) -> LibvirtStatus:
        running = self.libvirtd.running() and self._answers()
        libvirt_version = qemu_version = None
        if running:
            with self.connect() as conn:
                libvirt_version = format_version(conn.getLibVersion())
                qemu_version = format_version(conn.getVersion())
        probe = self.cached_probe()
        return LibvirtStatus(
            running=running,
            uri=self.uri,
            libvirtd_pid=self.libvirtd.pid(),
            virtlogd_pid=self.virtlogd.pid(),
            libvirt_version=libvirt_version,
            qemu_version=qemu_version,
            hypervisor=probe.mode if probe else None,
        )

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A read-write connection to our libvirtd, closed on exit."""
        libvirt = import_libvirt()
        conn = libvirt.open(self.uri)
        try:
            yield conn
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    # -- hypervisor mode ----------------------------------------------------------------

    def hypervisor(
        self, wanted: HypervisorMode = "auto", *, probe_kernel: Path | None = None
    ) -> Literal["kvm", "qemu"]:
        """The domain type to use: as asked, or for `auto` the cached or fresh probe."""
        if wanted in ("kvm", "qemu"):
            return wanted
        cached = self.cached_probe()
        if cached is not None:
            return cached.mode
        probe = self.probe_hypervisor(probe_kernel)
        self.probe_file.write_text(json.dumps(asdict(probe), indent=2) + "\n")
        return probe.mode

    def cached_probe(self) -> HypervisorProbe | None:
        """The probe result recorded for this very host and kernel, if any."""
        try:
            data = json.loads(self.probe_file.read_text())
            probe = HypervisorProbe(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None
        if (probe.host, probe.kernel) != _host_identity():
            return None
        return probe

    def probe_hypervisor(
        self, kernel: Path | None = None, timeout_s: float = PROBE_TIMEOUT_S
    ) -> HypervisorProbe:
        """Boot a Linux kernel in a `type='kvm'` guest; KVM counts only if the kernel prints.

        `/dev/kvm` existing proves nothing: on nested hosts without vmx/svm the device
        opens, and even SeaBIOS runs and prints (measured), but a Linux kernel prints
        nothing and spins. So the probe boots a real kernel (no initrd: it panics looking
        for a root fs and, with `panic=-1` and `on_reboot=destroy`, ends) and waits for
        its banner on the serial port, which under working KVM comes in well under 1 s.
        """
        host, kernel_release = _host_identity()
        started = time.monotonic()
        if not Path("/dev/kvm").exists():
            mode, reason = "qemu", "/dev/kvm does not exist"
        else:
            mode, reason = self._run_kvm_probe_guest(kernel or find_probe_kernel(), timeout_s)
        return HypervisorProbe(
            host=host,
            kernel=kernel_release,
            mode=mode,
            reason=reason,
            seconds=round(time.monotonic() - started, 2),
        )

    def _run_kvm_probe_guest(
        self, kernel: Path, timeout_s: float
    ) -> tuple[Literal["kvm", "qemu"], str]:
        libvirt = import_libvirt()
        name = f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}"
        self.guest_log_dir.mkdir(parents=True, exist_ok=True)
        log = self.guest_log_dir / f"{name}.log"
        domain_xml = probe_domain(name, kernel, log).format_xml()
        with self.connect() as conn:
            try:
                dom = conn.createXML(domain_xml, 0)
            except libvirt.libvirtError as error:
                return "qemu", f"a type='kvm' guest could not start: {error}"
            try:
                wait_until(
                    lambda: log.exists() and PROBE_BANNER in log.read_bytes(),
                    timeout_s,
                    what="the KVM probe guest's kernel banner",
                )
                return "kvm", "a type='kvm' guest booted a Linux kernel"
            except TimeoutError:
                return "qemu", f"a type='kvm' guest's kernel printed nothing in {timeout_s:.0f}s"
            finally:
                with contextlib.suppress(libvirt.libvirtError):
                    dom.destroy()
                log.unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------------------

    def _write_config(self) -> None:
        for sub in OVERLAYS:
            (self.overlay / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("conf", "logs", "pids", "guests"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        (self.overlay / "etc" / "qemu.conf").write_text(QEMU_CONF)
        (self.root / "conf" / "virtlogd.conf").write_text("log_level = 3\n")
        (self.root / "conf" / "libvirtd.conf").write_text(
            "# Written by kovirt's local stack.\n"
            f'unix_sock_dir = "{self.socket_dir}"\n'
            # Only root can reach the socket (its folder is 0700); no polkit here.
            'auth_unix_ro = "none"\n'
            'auth_unix_rw = "none"\n'
            'unix_sock_rw_perms = "0700"\n'
            "log_level = 3\n"
        )

    def _virtlogd_socket(self) -> Path:
        return self.overlay / "run" / "virtlogd-sock"

    def _virtlogd_args(self) -> list[str]:
        return [
            "--config",
            str(self.root / "conf" / "virtlogd.conf"),
            "--pid-file",
            str(self.root / "pids" / "virtlogd.self.pid"),
        ]

    def _libvirtd_args(self) -> list[str]:
        return [
            "--config",
            str(self.root / "conf" / "libvirtd.conf"),
            "--pid-file",
            str(self.root / "pids" / "libvirtd.self.pid"),
        ]

    def _start_in_namespace(self, daemon: Daemon, program: str, args: list[str]) -> int:
        """Join the namespace of our other daemon if it runs, else make a new one."""
        holder = next((d.pid() for d in (self.virtlogd, self.libvirtd) if d.running()), None)
        if holder is not None:
            launcher = ["nsenter", f"--mount=/proc/{holder}/ns/mnt", "--"]
        else:
            launcher = ["unshare", "--mount", "--propagation", "private", "--", *self._mounter()]
        # libvirtd must not be PID 1 of anything, and it must not inherit our stdin.
        env = {**os.environ, "PATH": _sbin_path()}
        return daemon.start([*launcher, program, *args], env=env, program=program)

    def _mounter(self) -> list[str]:
        # mkdir -p: on a host without systemd /run/libvirt may not exist; the empty
        # mount point it leaves behind is the only trace outside our folders.
        script = (
            "set -e\n"
            'while [ "$1" != "--" ]; do mkdir -p "$2"; mount --bind "$1" "$2"; shift 2; done\n'
            "shift\n"
            'exec "$@"\n'
        )
        pairs = [item for sub, path in OVERLAYS.items() for item in (str(self.overlay / sub), path)]
        return ["sh", "-c", script, "kovirt-libvirt-ns", *pairs, "--"]

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        libvirt = import_libvirt()
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return False
        conn.close()
        return True

    def _raise_if_died(self, daemon: Daemon) -> None:
        if not daemon.running():
            raise KovirtError(
                f"{daemon.name} exited during start; its log ({daemon.log_file}) ends with:\n"
                f"{daemon.log_tail()}",
                reason="LibvirtStartFailed",
            )

    def _destroy_running_guests(self) -> list[str]:
        libvirt = import_libvirt()
        names = []
        with self.connect() as conn:
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                with contextlib.suppress(libvirt.libvirtError):
                    dom.destroy()
                    names.append(dom.name())
        return names


def format_version(number: int) -> str:
    """libvirt encodes versions as major * 1,000,000 + minor * 1,000 + micro."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def import_libvirt():
    """The libvirt binding, quiet: errors arrive as exceptions, not also on stderr."""
    try:
        import libvirt
    except ImportError as error:
        raise MissingDependency(
            "the libvirt Python binding is missing: apt-get install -y python3-libvirt "
            "(and create the venv with --system-site-packages)"
        ) from error
    # By default the binding prints every error (even an expected "domain not found")
    # to stderr; nova registers a no-op handler for the same reason.
    libvirt.registerErrorHandler(_ignore_libvirt_error, None)
    return libvirt


def _ignore_libvirt_error(_context: object, _error: object) -> None:
    return None


def _sbin_path() -> str:
    path = os.environ.get("PATH", "")
    extra = [p for p in ("/usr/sbin", "/sbin") if p not in path.split(":")]
    return ":".join([path, *extra]) if path else ":".join(extra)


def _require_binaries() -> dict[str, str]:
    found = {}
    for name in ("libvirtd", "virtlogd", "unshare", "nsenter", "qemu-system-x86_64"):
        path = shutil.which(name, path=_sbin_path())
        if path is None:
            raise MissingDependency(f"{name} not found: {INSTALL_HINT} util-linux")
        found[name] = path
    return found


def _exists(pid: int) -> bool:
    """The process exists and is not a zombie (the launcher may not have exec'd yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _host_identity() -> tuple[str, str]:
    return socket.gethostname(), platform.release()
