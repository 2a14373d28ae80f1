"""The whole local stack in one: control plane, Ceph, libvirt, an image server, the operator
and a node agent, all as plain processes, state and logs under one folder.

`up` is idempotent (every piece is reused when already running) and prints progress;
`down` stops exactly what `up` started, in reverse order. With examples, `up` also applies
`examples/`, starts the agent of DataCenter `local` and waits until the sample VM runs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import KovirtError
from kovirt.localstack import binaries
from kovirt.localstack.ceph import CephInfo, LocalCeph
from kovirt.localstack.controlplane import ControlPlane
from kovirt.localstack.libvirt import LibvirtStack
from kovirt.localstack.paths import cache_dir, repo_root, state_dir
from kovirt.localstack.process import Daemon, wait_until

Say = Callable[[str], None]

OPERATOR_NAMESPACE = "kovirt-system"
ADMIN_SECRET = "ceph-admin"
SAMPLE_DC = "local"
SAMPLE_VM = ("demo", "demo")
IMAGE_PORT = int(os.environ.get("KOVIRT_IMAGE_PORT", "8089"))
HOST_NAME = os.environ.get("KOVIRT_LOCAL_HOST_NAME", "local-1")


@dataclass
class Stack:
    say: Say = print

    def __post_init__(self) -> None:
        self.root = state_dir("stack")
        self.controlplane = ControlPlane(echo=self._sub("controlplane"))
        self.ceph = LocalCeph()
        self.libvirt = LibvirtStack.default()
        self.operator = Daemon("operator", self.root / "pids", self.root / "logs")
        self.images = Daemon("image-server", self.root / "pids", self.root / "logs")

    # -- helpers -----------------------------------------------------------------------

    def agent(self, host: str = HOST_NAME) -> Daemon:
        """The node agent process of one (simulated) host."""
        return Daemon(f"agent-{host}", self.root / "pids", self.root / "logs")

    def agents(self) -> list[Daemon]:
        """Every agent this stack has a pid file for."""
        pids = self.root / "pids"
        names = sorted(p.stem for p in pids.glob("agent-*.pid")) if pids.exists() else []
        return [Daemon(name, pids, self.root / "logs") for name in names]

    def _sub(self, name: str) -> Say:
        return lambda message: self.say(f"    {name}: {message}")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        argv = [str(binaries.binaries().kubectl), f"--kubeconfig={self.controlplane.kubeconfig}"]
        result = subprocess.run(
            [*argv, *args], input=input, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise KovirtError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def _env(self) -> dict[str, str]:
        path = f"{binaries.binaries().kubectl_dir}:{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.controlplane.kubeconfig), "PATH": path}

    # -- up ----------------------------------------------------------------------------

    def up(self, *, examples: bool = True, timeout_s: float = 600) -> None:
        started = time.monotonic()
        steps: list[tuple[str, Callable[[], str | None]]] = [
            ("control plane (etcd, kube-apiserver, kube-controller-manager)", self._controlplane),
            ("Ceph (mon, mgr, 3 OSDs)", self._ceph),
            ("libvirt (private libvirtd + virtlogd)", self._libvirt),
            ("test guest image + image server", self._images),
            ("Ceph credentials Secret + operator", self._operator),
        ]
        if examples:
            steps += [
                ("apply examples/", self._apply_examples),
                (f"node agent for host {HOST_NAME}", self._agent),
                ("sample VM demo/demo Running", lambda: self._wait_sample_vm(timeout_s)),
            ]
        run_steps(self.say, steps)
        self.say(f"local stack up in {time.monotonic() - started:.1f}s")

    def _controlplane(self) -> str:
        binaries.ensure_built(self._sub("build"))
        result = self.controlplane.up()
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(repo_root() / "crds"))
        self.kubectl(
            "wait", "--for=condition=Established", "crd", "-l", "", "--all", "--timeout=60s"
        )
        return "started" if result.started else "reused"

    def _ceph(self) -> str:
        info = self.ceph.up(say=lambda message: self.say(f"    {message}"))
        return f"fsid {info.fsid}"

    def _libvirt(self) -> str:
        status = self.libvirt.up("auto")
        return f"libvirt {status.libvirt_version}, hypervisor {status.hypervisor}"

    def _images(self) -> str:
        return serve_guest_image(self.images, self.root / "images", "127.0.0.1")

    def _operator(self) -> str:
        info = self.ceph.up(say=lambda _: None)
        self.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
        secret = admin_secret(info)
        self.kubectl("apply", "-f", "-", input=json.dumps(secret))
        pid = self.operator.start(
            [
                sys.executable,
                "-m",
                "kovirt.operator.main",
                "--metrics-port",
                "8080",
                "--health-port",
                "8081",
            ],
            env=self._env(),
        )
        return f"pid {pid}, log {self.operator.log_file}"

    def _apply_examples(self) -> str:
        self.kubectl("apply", "-f", str(repo_root() / "examples"))
        return "DataCenter, StorageDomains, DiskImage, VirtualMachine"

    def _agent(self) -> str:
        from kovirt.localstack.agent import start_agent

        return start_agent(self, SAMPLE_DC, HOST_NAME)

    def _wait_sample_vm(self, timeout_s: float) -> str:
        return wait_sample_vm(self.kubectl, self.say, timeout_s, f"logs in {self.root / 'logs'}")

    # -- down / status -------------------------------------------------------------------

    def down(self, *, keep_state: bool = False) -> list[str]:
        """Stop everything; unless keep_state, also forget the stack's data.

        The local stack is disposable: memstore OSDs keep nothing across a restart, so a
        kept etcd would describe pools and images that no longer exist. Forgetting both
        makes the next `up` start clean. Cached binaries and the guest image stay.
        """
        stopped = []
        for daemon in (*self.agents(), self.operator, self.images):
            if daemon.stop(timeout_s=15):
                stopped.append(daemon.name)
        stopped += [f"libvirt:{n}" for n in self.libvirt.down()]
        stopped += [f"ceph:{n}" for n in self.ceph.down(purge=not keep_state)]
        stopped += [f"controlplane:{n}" for n in self.controlplane.down()]
        if not keep_state:
            forget_controlplane_data(self.controlplane.root)
            shutil.rmtree(self.root / "agents", ignore_errors=True)
        return stopped

    def status(self) -> list[tuple[str, str]]:
        rows = []
        plane = self.controlplane.status()
        rows.append(("control plane", "ready" if plane.ready else "down"))
        ceph = self.ceph.status()
        rows.append(("ceph", ceph.health or "down"))
        libvirt = self.libvirt.status()
        rows.append(("libvirt", f"running ({libvirt.uri})" if libvirt.running else "down"))
        for daemon in (self.images, self.operator, *self.agents()):
            pid = daemon.pid()
            rows.append((daemon.name, f"running (pid {pid})" if pid else "stopped"))
        if plane.ready:
            rows.append(("kovirt objects", "\n" + self.kubectl("get", "kovirt", "-A", check=False)))
        return rows


Step = tuple[str, Callable[[], str | None]]


def run_steps(say: Say, steps: list[Step]) -> None:
    """Run numbered steps, printing each one's start, time and what it returns."""
    for number, (what, action) in enumerate(steps, 1):
        started = time.monotonic()
        say(f"[{number}/{len(steps)}] {what} ...")
        detail = action()
        extra = f" ({detail})" if detail else ""
        say(f"[{number}/{len(steps)}] {what}: done in {time.monotonic() - started:.1f}s{extra}")


def serve_guest_image(daemon: Daemon, folder: Path, address: str) -> str:
    """Build (or reuse) the test guest and serve it over HTTP on address:IMAGE_PORT."""
    from kovirt.guest.build import build_test_guest

    guest = build_test_guest(cache_dir("guest"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "guest.img"
    if not target.exists() or target.stat().st_size != guest.disk_image.stat().st_size:
        shutil.copyfile(guest.disk_image, target)
    argv = [sys.executable, "-m", "http.server", "--bind", address, "--directory", str(folder)]
    daemon.start([*argv, str(IMAGE_PORT)])
    url = f"http://{address}:{IMAGE_PORT}/guest.img"
    wait_until(lambda: _http_ok(url), 15, what="the image server")
    return url


def admin_secret(info: CephInfo) -> dict:
    """The Secret DataCenter `local` names: the Ceph admin identity, for the operator only."""
    data = {"user": "admin", "key": info.admin_key, "monitors": info.mon_host}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": ADMIN_SECRET, "namespace": OPERATOR_NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def wait_sample_vm(kubectl: Callable[..., str], say: Say, timeout_s: float, hint: str) -> str:
    """Wait for the sample VM to run, printing each phase it passes (with the reason of a
    failed start: the agent retries those with back-off, so a Failed phase may pass)."""
    namespace, name = SAMPLE_VM
    last = {"seen": ""}
    path = "{.status.phase} {.status.runtime.reason}: {.status.runtime.message}"

    def running() -> bool:
        out = kubectl("get", "kvm", name, "-n", namespace, "-o", f"jsonpath={path}", check=False)
        phase = out.split(" ", 1)[0]
        seen = out if phase == "Failed" else phase
        if seen != last["seen"]:
            say(f"    VirtualMachine {namespace}/{name}: {seen or 'no phase yet'}")
            last["seen"] = seen
        return phase == "Running"

    try:
        wait_until(running, timeout_s, interval_s=1, what="the sample VM to be Running")
    except TimeoutError as error:
        describe = f"kubectl describe kvm -n {namespace} {name}"
        raise KovirtError(f"{error} (last: {last['seen']}); {describe}; {hint}") from error
    return f"kubectl get kvm -n {namespace} {name}"


def forget_controlplane_data(root: Path) -> None:
    """Remove etcd's data (certificates and kubeconfig stay valid for the next `up`)."""
    shutil.rmtree(root / "etcd", ignore_errors=True)


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2):
            return True
    except OSError:
        return False
