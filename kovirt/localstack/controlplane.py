"""The local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager.

All three run as plain processes on loopback, on ports picked free at start, with their
data, logs, pid files, certificates and the admin kubeconfig in one state folder
(``state_dir("controlplane")`` unless told otherwise). ``up`` is idempotent and ``down``
stops exactly the processes ``up`` started, API server before etcd.

Stopping takes about a second. On SIGTERM the API server's pre-shutdown hook removes it from
the ``kubernetes`` Service's endpoints, through etcd and through a client that calls the API
server itself at its bind address; it gives up after 20 s (twice the endpoint reconciler's
10 s interval). So the API server must stop while etcd still runs and while its address
still exists: a caller that deletes the interface holding ``bind_address`` first (the local
nodes' bridge) makes that hook wait its full 20 s. ``down`` notices a vanished address and
gives the API server only a few seconds before SIGKILL then.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import http.client
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from kovirt.errors import KovirtError
from kovirt.localstack import binaries as binaries_module
from kovirt.localstack.binaries import Binaries
from kovirt.localstack.certs import (
    KUBERNETES_SERVICE_IP,
    SERVICE_CIDR,
    CertFiles,
    ensure_certs,
)
from kovirt.localstack.paths import state_dir
from kovirt.localstack.process import Daemon, Exit, free_port

Echo = Callable[[str], None]

HOST = "127.0.0.1"
# Controllers kovirt relies on are all in "*" (garbage collector, daemonset, deployment,
# replicaset, namespace, serviceaccount, serviceaccount-token, ...). Removed: those that
# need nodes, a cloud or volumes, which this stack does not have (verified set, DESIGN.md §4).
CONTROLLERS = (
    "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-route,-service,"
    "-persistentvolume-binder,-attachdetach"
)
READY_TIMEOUT_S = 90.0
# How long each daemon gets to exit on SIGTERM before SIGKILL. All of them exit within
# about a second when stopped in order (clients, API server, etcd); the limits are for a
# daemon that hangs.
STOP_TIMEOUT_S = {"kube-scheduler": 10.0, "kube-controller-manager": 10.0}
APISERVER_STOP_TIMEOUT_S = 20.0
ETCD_STOP_TIMEOUT_S = 10.0
# The API server's limit when its bind address is gone: its endpoint-removal hook can only
# time out (20 s), everything else of its shutdown takes about a second.
APISERVER_ADDRESS_GONE_STOP_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int

    def all(self) -> tuple[int, ...]:
        return (self.etcd_client, self.etcd_peer, self.apiserver)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None


@dataclass(frozen=True)
class Status:
    """What `kovirt controlplane status` shows."""

    components: tuple[ComponentStatus, ...]
    server: str | None
    ready: bool
    kubeconfig: Path

    @property
    def running(self) -> bool:
        return any(component.pid is not None for component in self.components)


@dataclass(frozen=True)
class UpResult:
    server: str
    kubeconfig: Path
    started: bool  # False: an already running plane was reused
    ready_s: float  # seconds from the first process start to /readyz (0 when reused)


class ControlPlane:
    """One local control plane, identified by its state folder."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        echo: Echo = print,
        with_scheduler: bool = False,
        bind_address: str = HOST,
        kubelet_client: tuple[Path, Path] | None = None,
        controllers: str = CONTROLLERS,
        controller_manager_args: tuple[str, ...] = (),
    ) -> None:
        """bind_address: where the API server listens and what it advertises (the
        `kubernetes` Service's endpoint); real nodes need an address their pods can reach,
        such as the local nodes' bridge (kovirt.localstack.nodes). kubelet_client: a
        (certificate, key) pair the API server presents to kubelets, for logs and exec.
        controllers: kube-controller-manager's --controllers (real nodes need the node
        lifecycle controller, which lifts the not-ready taint and marks dead nodes).
        controller_manager_args: more kube-controller-manager flags."""
        self.root = root if root is not None else state_dir("controlplane")
        self.echo = echo
        self.with_scheduler = with_scheduler
        self.host = bind_address
        self.kubelet_client = kubelet_client
        self.controllers = controllers
        self.controller_manager_args = controller_manager_args
        self.certs = CertFiles(self.root / "certs")
        self.kubeconfig = self.root / "kubeconfig"
        self._ports_file = self.root / "ports.json"
        # How each daemon the last stop stopped went (SIGTERM or SIGKILL, how long).
        self.last_stop: dict[str, Exit] = {}

    # -- public verbs -------------------------------------------------------------------

    def up(self) -> UpResult:
        """Start the plane, or reuse it when it already runs and answers /readyz."""
        with self._lock():
            ports = self._saved_ports()
            if ports and self._core_running() and self._ready(ports):
                self._start_controllers(binaries_module.binaries())
                self.echo(f"control plane already running at {self._url(ports)}")
                return UpResult(self._url(ports), self.kubeconfig, started=False, ready_s=0.0)
            if any(daemon.running() for daemon in self._daemons()):
                self.echo("control plane partly running: restarting it")
                self._stop_all()
            return self._start()

    def down(self) -> list[str]:
        """Stop every process this plane started; return their names. Data is kept."""
        with self._lock():
            return self._stop_all()

    def status(self) -> Status:
        ports = self._saved_ports()
        components = tuple(ComponentStatus(d.name, d.pid()) for d in self._daemons())
        apiserver_up = any(c.pid for c in components if c.name == "kube-apiserver")
        ready = bool(ports and apiserver_up and self._ready(ports))
        return Status(components, self._url(ports) if ports else None, ready, self.kubeconfig)

    def restart_controller_manager(self) -> None:
        """Restart kube-controller-manager so its garbage collector sees new resource types
        at once instead of after its 30 s discovery resync (e.g. right after CRDs are
        installed)."""
        with self._lock():
            self._daemon("kube-controller-manager").stop(STOP_TIMEOUT_S["kube-controller-manager"])
            self._start_controllers(binaries_module.binaries())

    def wait_for_controllers(self, timeout_s: float = 60.0) -> float:
        """Wait until the service-account controller has made `default/default`: proof that
        kube-controller-manager runs and its controllers hold working credentials."""
        ports = self._saved_ports()
        if ports is None:
            raise KovirtError("the control plane is not running: run `kovirt controlplane up`")
        started = time.monotonic()
        path = "/api/v1/namespaces/default/serviceaccounts/default"
        while self._get(ports, path) != 200:
            self._check_alive()
            if time.monotonic() - started > timeout_s:
                raise KovirtError(
                    f"kube-controller-manager made no default service account in {timeout_s:.0f}s"
                    f"\n{self._daemon('kube-controller-manager').log_tail()}"
                )
            time.sleep(0.2)
        return time.monotonic() - started

    @property
    def server(self) -> str | None:
        ports = self._saved_ports()
        return self._url(ports) if ports else None

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    # -- starting -----------------------------------------------------------------------

    def _start(self) -> UpResult:
        bins = binaries_module.ensure_built(self.echo)
        certs = ensure_certs(self.certs.folder, extra_ips=(self.host,))
        ports = self._choose_ports()
        self._write_kubeconfig(ports, certs)
        started = time.monotonic()
        # Start etcd and the API server together: the API server retries etcd until it
        # answers, which is quicker than waiting for etcd's health first.
        self._daemon("etcd").start(self._etcd_argv(bins, ports))
        self._daemon("kube-apiserver").start(self._apiserver_argv(bins, ports, certs))
        try:
            self._wait_ready(ports)
        except KovirtError:
            self._stop_all()
            raise
        ready_s = time.monotonic() - started
        self._start_controllers(bins)
        self.echo(f"control plane ready in {ready_s:.1f}s at {self._url(ports)}")
        return UpResult(self._url(ports), self.kubeconfig, started=True, ready_s=ready_s)

    def _start_controllers(self, bins: Binaries) -> None:
        self._daemon("kube-controller-manager").start(self._controller_manager_argv(bins))
        if self.with_scheduler:
            self._daemon("kube-scheduler").start(self._scheduler_argv(bins))

    def _etcd_argv(self, bins: Binaries, ports: Ports) -> list[str]:
        client, peer = f"http://{HOST}:{ports.etcd_client}", f"http://{HOST}:{ports.etcd_peer}"
        return [
            str(bins.etcd),
            "--name=kovirt",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=kovirt={peer}",
            "--log-level=warn",
            # A local, throw-away store: skipping fsync makes every write several times
            # faster on slow disks; a machine crash may lose the last writes, nothing else.
            "--unsafe-no-fsync",
        ]

    def _apiserver_argv(self, bins: Binaries, ports: Ports, certs: CertFiles) -> list[str]:
        return [
            str(bins.kube_apiserver),
            f"--etcd-servers=http://{HOST}:{ports.etcd_client}",
            f"--bind-address={self.host}",
            f"--advertise-address={self.host}",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={certs.folder}",
            f"--tls-cert-file={certs.serving_cert}",
            f"--tls-private-key-file={certs.serving_key}",
            f"--client-ca-file={certs.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={certs.service_account_pub}",
            f"--service-account-signing-key-file={certs.service_account_key}",
            # The node agent's DaemonSet is privileged (it drives /dev/kvm and libvirt).
            "--allow-privileged=true",
            "--profiling=false",
            *self._kubelet_client_args(),
        ]

    def _kubelet_client_args(self) -> list[str]:
        if self.kubelet_client is None:
            return []
        cert, key = self.kubelet_client
        return [
            f"--kubelet-client-certificate={cert}",
            f"--kubelet-client-key={key}",
            # Kubelets here have one address that the API server reaches: the node IP.
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _controller_manager_argv(self, bins: Binaries) -> list[str]:
        return [
            str(bins.kube_controller_manager),
            f"--kubeconfig={self.kubeconfig}",
            f"--controllers={self.controllers}",
            # Each controller acts as its own service account, as in a real cluster, so RBAC
            # mistakes in what they do show up here too.
            "--use-service-account-credentials",
            f"--root-ca-file={self.certs.ca_cert}",
            f"--service-account-private-key-file={self.certs.service_account_key}",
            f"--cluster-signing-cert-file={self.certs.ca_cert}",
            f"--cluster-signing-key-file={self.certs.ca_key}",
            # One instance only: leader election would make a restart wait for the old
            # lease to expire (15 s).
            "--leader-elect=false",
            # No HTTPS endpoint: nothing reads it, and it would be one more port to leak.
            "--secure-port=0",
            *self.controller_manager_args,
        ]

    def _scheduler_argv(self, bins: Binaries) -> list[str]:
        return [
            str(bins.kube_scheduler),
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
        ]

    def _wait_ready(self, ports: Ports) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready(ports):
            self._check_alive()
            if time.monotonic() > deadline:
                raise KovirtError(
                    f"kube-apiserver did not answer /readyz in {READY_TIMEOUT_S:.0f}s; "
                    f"logs in {self.log_dir}\n{self._daemon('kube-apiserver').log_tail()}"
                )
            time.sleep(0.1)

    def _check_alive(self) -> None:
        for name in ("etcd", "kube-apiserver"):
            daemon = self._daemon(name)
            if daemon.pid_file.exists() and not daemon.running():
                raise KovirtError(
                    f"{name} exited during start; its log ({daemon.log_file}) ends with:\n"
                    f"{daemon.log_tail()}"
                )

    # -- stopping -----------------------------------------------------------------------

    def _stop_all(self) -> list[str]:
        """Clients first, the API server next, etcd last; how each went is in last_stop."""
        self.last_stop = {}
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            daemon = self._daemon(name)
            timeout_s = self._stop_timeout(name) if daemon.running() else 0.0
            how = daemon.terminate(timeout_s)  # None: it was not running
            if how is not None:
                self.last_stop[name] = how
                if how.killed:
                    self.echo(f"{name} did not exit within {timeout_s:.0f}s of SIGTERM: killed")
        return list(self.last_stop)

    def _stop_timeout(self, name: str) -> float:
        if name == "etcd":
            return ETCD_STOP_TIMEOUT_S
        if name != "kube-apiserver":
            return STOP_TIMEOUT_S[name]
        if address_is_local(self.host):
            return APISERVER_STOP_TIMEOUT_S
        self.echo(
            f"kube-apiserver's address {self.host} is no longer on this machine: its shutdown "
            f"cannot reach itself, so it gets {APISERVER_ADDRESS_GONE_STOP_TIMEOUT_S:.0f}s"
        )
        return APISERVER_ADDRESS_GONE_STOP_TIMEOUT_S

    # -- state ----------------------------------------------------------------------------

    def _daemons(self) -> tuple[Daemon, ...]:
        names = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
        return tuple(self._daemon(name) for name in names)

    def _daemon(self, name: str) -> Daemon:
        return Daemon(name, self.root / "pids", self.log_dir)

    def _core_running(self) -> bool:
        return self._daemon("etcd").running() and self._daemon("kube-apiserver").running()

    def _saved_ports(self) -> Ports | None:
        try:
            return Ports(**json.loads(self._ports_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _choose_ports(self) -> Ports:
        """The ports of the last run when they are still free (kubeconfigs handed out keep
        working), otherwise new free ones."""
        saved = self._saved_ports()
        if saved and all(_port_is_free(port, self.host) for port in saved.all()):
            return saved
        chosen: list[int] = []
        while len(chosen) < 3:
            port = free_port(self.host)
            if port not in chosen:
                chosen.append(port)
        ports = Ports(*chosen)
        self._ports_file.write_text(json.dumps(ports.__dict__) + "\n")
        return ports

    def _write_kubeconfig(self, ports: Ports, certs: CertFiles) -> None:
        # Certificates are embedded so the file keeps working when copied elsewhere.
        def data(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kovirt-local",
                    "cluster": {
                        "server": self._url(ports),
                        "certificate-authority-data": data(certs.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "kovirt-admin",
                    "user": {
                        "client-certificate-data": data(certs.admin_cert),
                        "client-key-data": data(certs.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "kovirt-local",
                    "context": {"cluster": "kovirt-local", "user": "kovirt-admin"},
                }
            ],
            "current-context": "kovirt-local",
        }
        partial = self.kubeconfig.with_suffix(".partial")
        partial.touch(mode=0o600, exist_ok=True)
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.replace(self.kubeconfig)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Serialises up/down between processes (a CLI call and a test session, say).
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- talking to the API server ------------------------------------------------------------

    def _url(self, ports: Ports) -> str:
        return f"https://{self.host}:{ports.apiserver}"

    def _ready(self, ports: Ports) -> bool:
        return self._get(ports, "/readyz") == 200

    def _get(self, ports: Ports, path: str) -> int | None:
        """HTTP status of a GET as the admin, or None when nothing answers."""
        try:
            context = ssl.create_default_context(cafile=str(self.certs.ca_cert))
            context.load_cert_chain(str(self.certs.admin_cert), str(self.certs.admin_key))
        except (FileNotFoundError, ssl.SSLError):
            return None
        connection = http.client.HTTPSConnection(
            self.host, ports.apiserver, context=context, timeout=2
        )
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()


def address_is_local(host: str) -> bool:
    """True while an interface of this machine holds the IP address host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def _port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def kubectl_env(plane: ControlPlane) -> dict[str, str]:
    """Environment that makes `kubectl` mean the pinned build talking to this plane."""
    bin_dir = binaries_module.binaries().kubectl_dir
    return {
        **os.environ,
        "KUBECONFIG": str(plane.kubeconfig),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


__all__ = [
    "KUBERNETES_SERVICE_IP",
    "ControlPlane",
    "Ports",
    "Status",
    "UpResult",
    "kubectl_env",
]
