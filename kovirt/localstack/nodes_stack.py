"""The local stack on real nodes: kovirt installed by its Helm chart, as on a real cluster.

`up` brings up, each step reused when already there:
1. the control plane and N nodes (containerd, kubelet, kube-proxy in network namespaces;
   kovirt.localstack.nodes), with the kovirt image built and imported;
2. Ceph, listening on the nodes' bridge address so pods reach monitors and OSDs;
3. the test guest image, served over HTTP on the bridge address;
4. the Ceph admin Secret and `helm upgrade --install` of charts/kovirt with
   values-local.yaml: the operator runs as its Deployment; for every DataCenter it makes an
   agent DaemonSet and a libvirt DaemonSet (libvirtd and the guests' QEMU in pods);
5. with examples: examples/ applied (the image URL pointed at the bridge address) and a wait
   until the sample VM runs inside the libvirt pod of one node.

`down` undoes it all: the release's pods go with the nodes; Ceph's and etcd's data are
forgotten (as in the host-process stack) unless asked to keep them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import KovirtError
from kovirt.localstack import binaries, tools
from kovirt.localstack.ceph import LocalCeph
from kovirt.localstack.nodes import NodeStack
from kovirt.localstack.paths import repo_root, state_dir
from kovirt.localstack.process import Daemon
from kovirt.localstack.stack import (
    IMAGE_PORT,
    OPERATOR_NAMESPACE,
    SAMPLE_VM,
    Say,
    admin_secret,
    forget_controlplane_data,
    run_steps,
    serve_guest_image,
    wait_sample_vm,
)

RELEASE = "kovirt"
CHART = "charts/kovirt"
LOCAL_VALUES = "charts/kovirt/values-local.yaml"
EXAMPLES_IMAGE_URL = f"http://127.0.0.1:{IMAGE_PORT}/"


@dataclass
class NodesStack:
    say: Say = print
    nodes: int | None = None

    def __post_init__(self) -> None:
        self.root = state_dir("nodes")
        self.node_stack = NodeStack(count=self.nodes, echo=self._sub("nodes"))
        self.address = self.node_stack.net.host_ip
        self.ceph = LocalCeph(self.root / "ceph", public_addr=self.address)
        self.files = self.root / "stack"
        self.images = Daemon("image-server", self.files / "pids", self.files / "logs")

    # -- helpers -----------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.node_stack.kubeconfig

    @property
    def host_paths(self) -> Path:
        """Stands in for the nodes' /run/kovirt and /var/lib/kovirt (one machine, so one
        folder each, with a subfolder per node as on real hosts)."""
        return self.files / "host"

    @property
    def image_url(self) -> str:
        return f"http://{self.address}:{IMAGE_PORT}/guest.img"

    def node_names(self) -> list[str]:
        return [node.name for node in self.node_stack.net.nodes]

    def _sub(self, name: str) -> Say:
        return lambda message: self.say(f"    {name}: {message}")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = self.node_stack.kubectl(*args, input=input, check=False)
        if check and done.returncode != 0:
            raise KovirtError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def helm(self, *args: str, timeout_s: float = 600) -> str:
        argv = [str(tools.helm(echo=self._sub("helm"))), f"--kubeconfig={self.kubeconfig}"]
        done = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=repo_root(),
            env=self.env(),
        )
        if done.returncode != 0:
            raise KovirtError(f"helm {' '.join(args)}: {done.stderr.strip() or done.stdout}")
        return done.stdout

    def env(self) -> dict[str, str]:
        """Environment for kubectl and helm on this stack (the matching kubectl first)."""
        path = f"{binaries.binaries().kubectl_dir}:{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    # -- up ----------------------------------------------------------------------------

    def up(self, *, examples: bool = True, timeout_s: float = 600) -> float:
        """Bring everything up; return the seconds it took."""
        started = time.monotonic()
        steps: list[tuple[str, Callable[[], str | None]]] = [
            ("control plane + nodes (containerd, kubelet, kube-proxy)", self._nodes),
            (f"Ceph (mon, mgr, 3 OSDs) on {self.address}", self._ceph),
            ("test guest image + image server", self._images),
            ("Ceph admin Secret + helm install of charts/kovirt", self._install),
        ]
        if examples:
            steps += [
                ("apply examples/", self._apply_examples),
                ("sample VM demo/demo Running", lambda: self._wait_sample_vm(timeout_s)),
            ]
        run_steps(self.say, steps)
        seconds = time.monotonic() - started
        self.say(f"local stack (real nodes) up in {seconds:.1f}s")
        return seconds

    def _nodes(self) -> str:
        result = self.node_stack.up()
        return f"{', '.join(result.nodes)} Ready; KUBECONFIG={result.kubeconfig}"

    def _ceph(self) -> str:
        info = self.ceph.up(say=self._sub("ceph"))
        return f"fsid {info.fsid}, monitor {info.mon_host}"

    def _images(self) -> str:
        return serve_guest_image(self.images, self.files / "images", self.address)

    def _install(self) -> str:
        info = self.ceph.up(say=lambda _: None)
        self.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
        self.kubectl("apply", "-f", "-", input=json.dumps(admin_secret(info)))
        self.helm(*self.install_args())
        return f"release {RELEASE} in {OPERATOR_NAMESPACE}"

    def install_args(self, *extra: str) -> list[str]:
        """`helm upgrade --install` of the chart with the local values (and `extra`)."""
        return [
            "upgrade",
            "--install",
            RELEASE,
            CHART,
            "--namespace",
            OPERATOR_NAMESPACE,
            "--create-namespace",
            "--values",
            LOCAL_VALUES,
            "--set",
            f"agent.hostPaths.run={self.host_paths / 'run'}",
            "--set",
            f"agent.hostPaths.state={self.host_paths / 'state'}",
            "--wait",
            "--timeout",
            "5m",
            *extra,
        ]

    def examples(self) -> str:
        """examples/ as one YAML stream, the image URL pointed at this stack's server."""
        files = sorted((repo_root() / "examples").glob("*.yaml"))
        text = "\n---\n".join(path.read_text() for path in files)
        return text.replace(EXAMPLES_IMAGE_URL, f"http://{self.address}:{IMAGE_PORT}/")

    def _apply_examples(self) -> str:
        self.kubectl("apply", "-f", "-", input=self.examples())
        return "DataCenter, StorageDomains, DiskImage, VirtualMachine"

    def _wait_sample_vm(self, timeout_s: float) -> str:
        hint = f"kubectl logs -n {OPERATOR_NAMESPACE} -l app.kubernetes.io/component=agent"
        wait_sample_vm(self.kubectl, self.say, timeout_s, hint)
        namespace, name = SAMPLE_VM
        host = self.kubectl("get", "kvm", name, "-n", namespace, "-o", "jsonpath={.status.host}")
        pod = self.libvirt_pod(host)
        return f"on node {host}, in pod {OPERATOR_NAMESPACE}/{pod}"

    def libvirt_pod(self, node: str) -> str:
        """The name of the libvirt pod on `node` (where that node's guests run)."""
        out = self.kubectl(
            "get",
            "pods",
            "-n",
            OPERATOR_NAMESPACE,
            "-l",
            "app.kubernetes.io/component=libvirt",
            "--field-selector",
            f"spec.nodeName={node}",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        )
        names = out.split()
        if len(names) != 1:
            raise KovirtError(f"expected one libvirt pod on {node}, found {names or 'none'}")
        return names[0]

    # -- down / status -----------------------------------------------------------------

    def down(self, *, keep_state: bool = False) -> list[str]:
        """Stop everything and remove what `up` made (images and binaries stay cached)."""
        stopped = []
        if self.images.stop(timeout_s=15):
            stopped.append(self.images.name)
        # Ceph listens on the bridge address: stop it before the bridge goes.
        stopped += [f"ceph:{name}" for name in self.ceph.down(purge=not keep_state)]
        stopped += self.node_stack.down()
        shutil.rmtree(self.host_paths, ignore_errors=True)
        if not keep_state:
            forget_controlplane_data(self.node_stack.plane.root)
        return stopped

    def leftovers(self) -> list[str]:
        """What of this stack still exists (empty after `down`)."""
        found = self.node_stack.leftovers()
        if self.images.running():
            found.append(f"process {self.images.name}")
        found += [f"process ceph {d.name}" for d in self.ceph.status().daemons if d.pid]
        return found

    def status(self) -> list[tuple[str, str]]:
        rows = []
        nodes = self.node_stack.status()  # one `kubectl get nodes`
        for node in nodes:
            state = {None: "down", True: "Ready", False: "NotReady"}[node.ready]
            pids = ", ".join(f"{k} {v}" for k, v in node.pids.items() if v)
            rows.append((node.name, f"{state} ({node.ip}; {pids or 'no processes'})"))
        rows.append(("ceph", self.ceph.status().health or "down"))
        pid = self.images.pid()
        rows.append((self.images.name, f"running (pid {pid})" if pid else "stopped"))
        if any(node.ready for node in nodes):
            pods = self.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "wide", check=False)
            rows.append(("kovirt pods", "\n" + pods))
            rows.append(("kovirt objects", "\n" + self.kubectl("get", "kovirt", "-A", check=False)))
        return rows
