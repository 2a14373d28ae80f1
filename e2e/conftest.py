"""The e2e suite drives the whole local stack (`kovirt up` minus the examples) with kubectl.

The stack's pieces that were already running are reused; what this session starts, it
stops. The node agent of the test host is started the way `kovirt up` starts one (from the
Secret and ConfigMap the operator made): that is infrastructure, like a node joining.
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

from kovirt.localstack.stack import Stack


@dataclass
class E2E:
    stack: Stack

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
                logs = self.stack.root / "logs"
                raise AssertionError(
                    f"timed out after {timeout_s}s waiting for {what}\n"
                    f"{self.kubectl('get', 'kovirt', '-A', check=False)}\n"
                    f"operator log: {tail(logs / 'operator.log')}\n"
                    f"agent logs in {logs}"
                )
            time.sleep(1)

    def virsh(self, *args: str) -> str:
        return subprocess.run(
            ["virsh", "-c", self.stack.libvirt.uri, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    def rbd(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        info = self.stack.ceph.up(say=lambda _: None)
        return subprocess.run(
            ["rbd", "-c", str(info.conf_path), "--keyring", str(info.admin_keyring_path), *args],
            capture_output=True,
            timeout=60,
            check=True,
        )


def tail(path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@pytest.fixture(scope="session")
def e2e() -> Iterator[E2E]:
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
        yield E2E(stack)
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
