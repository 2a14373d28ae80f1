"""Real Kubernetes nodes on one machine: `kovirt nodes up|down|status`.

Each node is a network namespace with a veth to a host bridge (kovirt.localstack.node_net),
its own containerd, CNI network and pod subnet, a kubelet and a kube-proxy, all started with
``nsenter --net`` (not ``ip netns exec``, whose private mount namespace would hide the
kubelet's volume mounts from containerd). A control plane of its own, with the scheduler,
listens on the bridge address so that nodes and pods reach it (the `kubernetes` Service
points there) and presents a client certificate to the kubelets (logs, exec).
The images come from kovirt.localstack.images and are imported into every containerd.

Everything lives in ``state_dir("nodes")``; `down` stops exactly what `up` started and
undoes everything it made (processes, mounts, namespaces, links, routes, cgroups), keeping
only each node's image store so that the next `up` starts without importing again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack import binaries as binaries_module
from kovirt.localstack import images as images_module
from kovirt.localstack import node_config, node_host, node_net
from kovirt.localstack.certs import SERVICE_CIDR, CertFiles, ensure_certs
from kovirt.localstack.controlplane import CONTROLLERS, ControlPlane
from kovirt.localstack.node_certs import (
    APISERVER_KUBELET_CLIENT,
    ensure_client_cert,
    write_kubeconfig,
)
from kovirt.localstack.node_config import NodeFiles
from kovirt.localstack.node_net import NodeAddress
from kovirt.localstack.paths import state_dir
from kovirt.localstack.process import Daemon

Echo = Callable[[str], None]
T = TypeVar("T")

DEFAULT_NODES = 2
CNI_NETWORK_PREFIX = "kovirt-kv-node-"  # node_config.cni_conflist names them kovirt-<node>
READY_TIMEOUT_S = 120.0
# The host-process plane's set plus the node lifecycle controller: it lifts the not-ready
# taint kubelets register with (or nothing could be scheduled) and marks silent nodes.
NODE_CONTROLLERS = CONTROLLERS.replace("-nodelifecycle,", "")
# How long a silent node stays Ready (kube-controller-manager's default is 50 s). Kubelets
# renew their lease every 10 s; 30 s makes a dead host show within about 35 s and leaves
# room for a late renewal on a busy 2-core machine.
NODE_GRACE_S = 30
NODE_RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kovirt-local-nodes
subjects:
- kind: Group
  name: system:nodes
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: ClusterRole
  name: system:node
  apiGroup: rbac.authorization.k8s.io
"""
REQUIRED_TOOLS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "nsenter": "util-linux",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
}
STOP_TIMEOUT_S = {"kube-proxy": 10.0, "kubelet": 15.0, "containerd": 15.0}


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ip: str
    pids: dict[str, int | None]
    ready: bool | None  # None: the API server did not answer


@dataclass(frozen=True)
class UpResult:
    kubeconfig: Path
    nodes: tuple[str, ...]
    seconds: float


class NodeStack:
    """The control plane and N nodes in one state folder."""

    def __init__(self, count: int | None = None, root: Path | None = None, echo: Echo = print):
        self.root = root if root is not None else state_dir("nodes")
        self.echo = echo
        self.count = count if count is not None else self._saved_count() or DEFAULT_NODES
        self.net = node_net.plan(self.root, self.count)
        self.certs_dir = self.root / "certs"
        self.plane = ControlPlane(
            self.root / "controlplane",
            echo=echo,
            with_scheduler=True,
            bind_address=self.net.host_ip,
            controllers=NODE_CONTROLLERS,
            controller_manager_args=(f"--node-monitor-grace-period={NODE_GRACE_S}s",),
            kubelet_client=(
                self.certs_dir / f"{APISERVER_KUBELET_CLIENT}.crt",
                self.certs_dir / f"{APISERVER_KUBELET_CLIENT}.key",
            ),
        )

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    def files(self, node: NodeAddress) -> NodeFiles:
        return NodeFiles(self.root / node.name)

    def cgroup(self, node: NodeAddress) -> str:
        return node.netns  # kovirt-<id>-node<i>: unique per stack and node

    # -- up ------------------------------------------------------------------------------

    def up(self) -> UpResult:
        started = time.monotonic()
        check_tools()
        with self._lock():
            self._save_count()
            bins = binaries_module.ensure_node_binaries_built(self.echo)
            images = images_module.ensure_images(self.echo)
            node_net.create_bridge(self.net)
            self._plane_up()
            # Nodes start side by side: most of the time is image import, per node.
            with ThreadPoolExecutor(max_workers=self.count) as pool:
                list(pool.map(lambda node: self._node_up(node, bins, images), self.net.nodes))
            self._wait_ready()
        seconds = time.monotonic() - started
        self.echo(f"{self.count} nodes Ready in {seconds:.0f}s; KUBECONFIG={self.kubeconfig}")
        return UpResult(self.kubeconfig, tuple(n.name for n in self.net.nodes), seconds)

    def _plane_up(self) -> None:
        # The API server's client certificate for kubelets must exist before it starts.
        ca = CertFiles(self.root / "controlplane" / "certs")
        if not ca.ca_cert.exists():
            ensure_certs(ca.folder, extra_ips=(self.net.host_ip,))
        ensure_client_cert(
            ca, self.certs_dir, APISERVER_KUBELET_CLIENT, APISERVER_KUBELET_CLIENT, "system:masters"
        )
        self.plane.up()
        self.plane.wait_for_controllers()
        self.kubectl("apply", "-f", "-", input=NODE_RBAC)
        self._fix_kubernetes_service_port()
        # Shared by every node's kube-proxy: made once, before the nodes start in parallel.
        ensure_client_cert(ca, self.certs_dir, "kube-proxy", "system:kube-proxy")

    def _fix_kubernetes_service_port(self, timeout_s: float = 30.0) -> None:
        """After a restart on another port (the old one still in TIME_WAIT, say) the API
        server keeps the `kubernetes` Service's old target port, and pods would reach
        nothing; deleted, the Service is made again within seconds with the right one."""
        port = (self.plane.server or "").rsplit(":", 1)[-1]

        def served_port() -> str:
            return self.kubectl(
                "get", "endpointslice", "kubernetes", "-n", "default",
                "-o", "jsonpath={.ports[0].port}", check=False,
            ).stdout.strip()  # fmt: skip

        if served_port() in ("", port):
            return
        self.kubectl("delete", "service", "kubernetes", "-n", "default")
        deadline = time.monotonic() + timeout_s
        while served_port() != port:
            if time.monotonic() > deadline:
                raise KovirtError(f"the kubernetes Service did not come back on port {port}")
            time.sleep(0.5)

    def _node_up(
        self, node: NodeAddress, bins: binaries_module.NodeBinaries, images: images_module.Images
    ) -> None:
        files = self.files(node)
        node_net.create_node_netns(self.net, node, SERVICE_CIDR)
        node_host.create_cgroup(self.cgroup(node))
        self._write_node_files(node, files, images)
        self._start_containerd(node, files)
        self._import_images(node, files, images)
        self._start(node, "kubelet", self._kubelet_argv(node, files, bins))
        self._start(node, "kube-proxy", self._proxy_argv(files, bins))

    def _write_node_files(
        self, node: NodeAddress, files: NodeFiles, images: images_module.Images
    ) -> None:
        ca = self.plane.certs
        for folder in (files.containerd_root, files.cni_conf_dir, files.pod_logs, files.logs):
            folder.mkdir(parents=True, exist_ok=True)
        files.containerd_config.write_text(node_config.containerd_toml(files, images.pause.ref))
        (files.cni_conf_dir / "10-kovirt.conflist").write_text(
            node_config.cni_conflist(files, node)
        )
        # No DNS server here and none may be asked off the machine: an empty resolv.conf.
        files.resolv_conf.write_text("")
        files.kubelet_config.write_text(
            node_config.kubelet_config(files, node, f"/{self.cgroup(node)}", ca.ca_cert)
        )
        files.proxy_config.write_text(node_config.kube_proxy_config(files, node))
        server = self.plane.server or ""
        cert, key = ensure_client_cert(
            ca, self.certs_dir, node.name, f"system:node:{node.name}", "system:nodes"
        )
        write_kubeconfig(files.kubelet_kubeconfig, server, ca, cert, key)
        cert, key = ensure_client_cert(ca, self.certs_dir, "kube-proxy", "system:kube-proxy")
        write_kubeconfig(files.proxy_kubeconfig, server, ca, cert, key)

    def _start_containerd(self, node: NodeAddress, files: NodeFiles) -> None:
        self._start(node, "containerd", ["containerd", "--config", str(files.containerd_config)])
        deadline = time.monotonic() + 30
        while self._ctr(files, "version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise KovirtError(
                    f"containerd of {node.name} did not answer in 30s:\n"
                    f"{self._daemon(node, 'containerd').log_tail()}"
                )
            time.sleep(0.2)

    def _import_images(
        self, node: NodeAddress, files: NodeFiles, images: images_module.Images
    ) -> None:
        present = set(self._ctr(files, "images", "ls", "-q").stdout.split())
        for image in images.all():
            if image.ref in present:
                continue
            started = time.monotonic()
            self._ctr(files, "images", "import", "--base-name", image.base_name, str(image.archive))
            self.echo(f"{node.name}: imported {image.ref} in {time.monotonic() - started:.0f}s")
        kovirt = images.kovirt
        self._ctr(files, "images", "tag", "--force", kovirt.ref, kovirt.local_ref)

    def _kubelet_argv(
        self, node: NodeAddress, files: NodeFiles, bins: binaries_module.NodeBinaries
    ) -> list[str]:
        return [
            str(bins.kubelet),
            f"--config={files.kubelet_config}",
            f"--kubeconfig={files.kubelet_kubeconfig}",
            f"--root-dir={files.kubelet_root}",
            f"--cert-dir={files.root / 'kubelet-pki'}",
            f"--node-ip={node.ip}",
            f"--hostname-override={node.name}",
            "--v=1",
        ]

    def _proxy_argv(self, files: NodeFiles, bins: binaries_module.NodeBinaries) -> list[str]:
        return [str(bins.kube_proxy), f"--config={files.proxy_config}", "--v=1"]

    def _start(self, node: NodeAddress, name: str, argv: list[str]) -> int:
        launcher = ["nsenter", f"--net={node.netns_path}", "--", *argv]
        return self._daemon(node, name).start(launcher, program=argv[0])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        names = [node.name for node in self.net.nodes]
        while True:
            ready = self._ready_nodes()
            if ready is not None and all(name in ready for name in names):
                return
            for node in self.net.nodes:
                for name in ("containerd", "kubelet", "kube-proxy"):
                    daemon = self._daemon(node, name)
                    if not daemon.running():
                        raise KovirtError(
                            f"{name} of {node.name} exited; its log ends with:\n{daemon.log_tail()}"
                        )
            if time.monotonic() > deadline:
                raise KovirtError(f"nodes not Ready after {READY_TIMEOUT_S:.0f}s: {ready}")
            time.sleep(0.5)

    # -- one host dying and coming back ---------------------------------------------------

    def stop_node(self, name: str) -> list[str]:
        """What a host crash does to Kubernetes: the node's kubelet, kube-proxy, containerd
        and pods are gone (its network namespace too); the Node object stays and turns
        NotReady within NODE_GRACE_S plus a few seconds."""
        with self._lock():
            return self._node_down(self._node(name))

    def start_node(self, name: str) -> None:
        """Bring a stopped node back; it turns Ready again with its pods."""
        with self._lock():
            bins = binaries_module.ensure_node_binaries_built(self.echo)
            images = images_module.ensure_images(self.echo)
            self._node_up(self._node(name), bins, images)

    def _node(self, name: str) -> NodeAddress:
        for node in self.net.nodes:
            if node.name == name:
                return node
        known = ", ".join(node.name for node in self.net.nodes)
        raise KovirtError(f"no node {name!r} in this stack (nodes: {known})")

    # -- down ----------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Undo everything `up` made; return what was stopped or removed."""
        done: list[str] = []
        errors: list[str] = []
        with self._lock():
            # Every step runs even when an earlier one failed: a half-done `down` must
            # still remove all it can, then say what went wrong.
            for node in self.net.nodes:
                done += _collect(errors, lambda node=node: self._node_down(node), [])
            # The API server before the bridge: on SIGTERM it calls its own (bridge) address
            # to leave the `kubernetes` endpoints, and without the address it waits 20 s.
            stopped = _collect(errors, self.plane.down, [])
            done += [f"{name} (control plane)" for name in stopped]
            _collect(errors, lambda: node_net.delete_bridge(self.net), None)
            root = self.root.resolve()
            _collect(errors, lambda: node_host.remove_host_traces(root, CNI_NETWORK_PREFIX), None)
        if errors:
            raise KovirtError("down did not undo everything:\n" + "\n".join(errors))
        return done

    def _node_down(self, node: NodeAddress) -> list[str]:
        files = self.files(node)
        stopped = []
        for name in ("kube-proxy", "kubelet"):
            if self._daemon(node, name).stop(STOP_TIMEOUT_S[name]):
                stopped.append(f"{name} ({node.name})")
        if self._daemon(node, "containerd").running():
            self._remove_containers(files)
        # Whatever is left in the node's cgroups are its pods' processes.
        node_host.kill_cgroup(self.cgroup(node))
        if self._daemon(node, "containerd").stop(STOP_TIMEOUT_S["containerd"]):
            stopped.append(f"containerd ({node.name})")
        self._kill_shims(files)
        still_mounted = node_host.unmount_all_under(files.root)
        if still_mounted:
            raise KovirtError(f"could not unmount {still_mounted}: left everything in place")
        # libcni caches each sandbox's loopback result outside any folder we can choose.
        for sandbox in self._sandbox_ids(files):
            node_host.CNI_CACHE.joinpath(f"cni-loopback-{sandbox}-lo").unlink(missing_ok=True)
        for folder in files.runtime_folders():
            shutil.rmtree(folder, ignore_errors=True)
        node_net.delete_node_netns(node)
        left = node_host.remove_cgroup(self.cgroup(node))
        if left:
            raise KovirtError(f"cgroups of {node.name} still in use: {left}")
        return stopped

    def _remove_containers(self, files: NodeFiles) -> None:
        """Kill and delete every container through containerd, so its shims exit and clean
        up after themselves (sockets, mounts)."""
        tasks = self._ctr(files, "tasks", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            self._ctr(files, "tasks", "delete", "--force", task, check=False)
        for container in self._ctr(files, "containers", "ls", "-q", check=False).stdout.split():
            self._ctr(files, "containers", "delete", container, check=False)

    @staticmethod
    def _sandbox_ids(files: NodeFiles) -> list[str]:
        sandboxes = files.containerd_state / "io.containerd.grpc.v1.cri" / "sandboxes"
        return [entry.name for entry in sandboxes.iterdir()] if sandboxes.is_dir() else []

    def _kill_shims(self, files: NodeFiles) -> None:
        """Shims of this node's containerd that outlived it (they name its socket)."""
        address = str(files.containerd_socket)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
                    subprocess.run(["kill", "-9", proc.name], capture_output=True)

    def leftovers(self) -> list[str]:
        """Everything of this stack that still exists (empty after a clean `down`)."""
        found = node_net.leftovers(self.net)
        for node in self.net.nodes:
            files = self.files(node)
            found += [f"mount {m}" for m in node_host.mounts_under(files.root)]
            if node_host.cgroup_exists(self.cgroup(node)):
                found.append(f"cgroup {self.cgroup(node)}")
            for name in ("containerd", "kubelet", "kube-proxy"):
                if self._daemon(node, name).running():
                    found.append(f"process {name} ({node.name})")
        found += [f"process {c.name}" for c in self.plane.status().components if c.pid]
        traces = node_host.host_traces(self.root.resolve(), CNI_NETWORK_PREFIX)
        found += [f"file {path}" for path in traces]
        return found

    # -- status --------------------------------------------------------------------------

    def status(self) -> list[NodeStatus]:
        ready = self._ready_nodes()
        result = []
        for node in self.net.nodes:
            pids = {
                name: self._daemon(node, name).pid()
                for name in ("containerd", "kubelet", "kube-proxy")
            }
            is_ready = None if ready is None else node.name in ready
            result.append(NodeStatus(node.name, node.ip, pids, is_ready))
        return result

    def _ready_nodes(self) -> set[str] | None:
        if not self.kubeconfig.exists():
            return None
        done = self.kubectl("get", "nodes", "-o", "json", check=False)
        if done.returncode != 0:
            return None
        ready = set()
        for item in json.loads(done.stdout)["items"]:
            conditions = item["status"].get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                ready.add(item["metadata"]["name"])
        return ready

    # -- helpers -------------------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(binaries_module.binaries().kubectl), f"--kubeconfig={self.kubeconfig}"]
        done = subprocess.run(
            [*argv, *args], input=input, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise KovirtError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def _ctr(self, files: NodeFiles, *args: str, check: bool = True):
        argv = ["ctr", "--address", str(files.containerd_socket), "--namespace", "k8s.io", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if check and done.returncode != 0:
            raise KovirtError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        return done

    def _daemon(self, node: NodeAddress, name: str) -> Daemon:
        files = self.files(node)
        return Daemon(name, files.pids, files.logs)

    def _saved_count(self) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(json.loads((self.root / "nodes.json").read_text())["count"])
        return None

    def _save_count(self) -> None:
        (self.root / "nodes.json").write_text(json.dumps({"count": self.count}) + "\n")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def check_tools() -> None:
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if not shutil.which(tool)})
    if not Path(node_config.CNI_BIN_DIR, "bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        raise MissingDependency(
            f"real nodes need these Debian packages: apt-get install -y {' '.join(missing)}"
        )


def _collect(errors: list[str], step: Callable[[], T], fallback: T) -> T:
    """Run one teardown step; on failure note it and carry on with the fallback."""
    try:
        return step()
    except (KovirtError, OSError, subprocess.SubprocessError) as error:
        errors.append(str(error))
        return fallback
