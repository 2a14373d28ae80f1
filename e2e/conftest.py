"""The e2e suite drives the whole local stack with kubectl, in both of its modes:

- `nodes` (what `kovirt up` runs by default): real nodes, kovirt installed by its Helm
  chart; the operator is a Deployment, agents and libvirtd are DaemonSet pods.
- `processes`: operator, agent and libvirtd as host processes (the fast mode). The node
  agent of the test host is started the way `kovirt up` starts one (from the Secret and
  ConfigMap the operator made): that is infrastructure, like a node joining.

`KOVIRT_E2E_MODES` (comma-separated, default both) picks the modes. Pieces of a stack that
were already running are reused; what this session starts, it stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kovirt.localstack.nodes_stack import NodesStack
from kovirt.localstack.stack import IMAGE_PORT, OPERATOR_NAMESPACE, Stack

MODES = [m for m in os.environ.get("KOVIRT_E2E_MODES", "nodes,processes").split(",") if m]
PROCESS_HOST = "e2e-host"


@dataclass
class E2E:
    mode: str
    stack: Stack | NodesStack

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.stack.kubectl(*args, input=input, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args)
        return json.loads(out) if out.strip() else None

    def jsonpath(self, kind: str, name: str, path: str, namespace: str | None = None) -> str:
        args = ["get", kind, name, "-o", f"jsonpath={{{path}}}"]
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, check=False)

    def wait(self, what: str, probe: Callable[[], Any], timeout_s: float = 180) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout_s}s waiting for {what} ({self.mode} mode)\n"
                    f"{self.kubectl('get', 'kovirt', '-A', check=False)}\n"
                    f"{self.diagnostics()}"
                )
            time.sleep(1)

    def diagnostics(self) -> str:
        if self.mode == "nodes":
            pods = self.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "wide", check=False)
            logs = self.kubectl(
                "logs", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/name=kovirt",
                "--prefix", "--tail=30", check=False,
            )  # fmt: skip
            return f"{pods}\n{logs}"
        logs = self.stack.root / "logs"
        return f"operator log: {tail(logs / 'operator.log')}\nagent logs in {logs}"

    # -- what differs between the modes -------------------------------------------------

    @property
    def image_url(self) -> str:
        if isinstance(self.stack, NodesStack):
            return self.stack.image_url
        return f"http://127.0.0.1:{IMAGE_PORT}/guest.img"

    @property
    def hosts(self) -> list[str]:
        """The Hosts a data center of this suite gets."""
        if isinstance(self.stack, NodesStack):
            return self.stack.node_names()
        return [PROCESS_HOST]

    def join_hosts(self, dc: str) -> None:
        """Processes mode: start the test host's agent. Nodes: the DaemonSets do it."""
        if isinstance(self.stack, Stack):
            from kovirt.localstack.agent import start_agent

            start_agent(self.stack, dc, PROCESS_HOST)

    def virsh(self, host: str, *args: str) -> str:
        """virsh against the libvirtd that runs `host`'s guests."""
        if isinstance(self.stack, NodesStack):
            pod = self.stack.libvirt_pod(host)
            return self.kubectl("exec", "-n", OPERATOR_NAMESPACE, pod, "--", "virsh", *args)
        return subprocess.run(
            ["virsh", "-c", self.stack.libvirt.uri, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    def ceph_cli(self, program: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        """`rbd` or `ceph` as the admin, from the host (test-side reading, not kovirt's)."""
        info = self.stack.ceph.up(say=lambda _: None)
        return subprocess.run(
            [program, "-c", str(info.conf_path), "--keyring", str(info.admin_keyring_path), *args],
            capture_output=True,
            timeout=60,
            check=True,
        )

    def rbd(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return self.ceph_cli("rbd", *args)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "nodes_only: runs in the nodes mode only (pods, logs)")


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect (not skip) nodes-only tests for the processes mode: nothing to test there."""
    deselected = [
        item
        for item in items
        if item.get_closest_marker("nodes_only")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("e2e") == "processes"
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def tail(path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@pytest.fixture(scope="session", params=MODES)
def e2e(request) -> Iterator[E2E]:
    if request.param == "nodes":
        yield from _nodes_mode()
    elif request.param == "processes":
        yield from _processes_mode()
    else:
        raise pytest.UsageError(f"KOVIRT_E2E_MODES: unknown mode {request.param!r}")


def _nodes_mode() -> Iterator[E2E]:
    stack = NodesStack(say=print)
    was_up = any(node.ready for node in stack.node_stack.status())
    stack.up(examples=False)
    others = stack.kubectl("get", "dc", "-o", "jsonpath={.items[*].metadata.name}").split()
    if others:
        # A node belongs to one DataCenter: the suite's own would share the nodes' libvirt.
        pytest.fail(f"the nodes stack already has DataCenters {others}: run `kovirt down` first")
    try:
        yield E2E("nodes", stack)
    finally:
        if not was_up and os.environ.get("KOVIRT_KEEP_STACK") != "1":
            stack.down()


def _processes_mode() -> Iterator[E2E]:
    stack = Stack(say=print)
    daemons = lambda: (*stack.agents(), stack.operator, stack.images)  # noqa: E731
    daemons_before = {d.name for d in daemons() if d.running()}
    running_before = {
        "controlplane": stack.controlplane.status().ready,
        "ceph": stack.ceph.status().health is not None,
        "libvirt": stack.libvirt.status().running,
    }
    stack.up(examples=False)
    try:
        yield E2E("processes", stack)
    finally:
        for daemon in daemons():
            if daemon.name not in daemons_before:
                daemon.stop(timeout_s=15)

        if os.environ.get("KOVIRT_KEEP_STACK") != "1":
            if not running_before["libvirt"]:
                stack.libvirt.down()
            if not running_before["ceph"]:
                stack.ceph.down()
            if not running_before["controlplane"]:
                stack.controlplane.down()
