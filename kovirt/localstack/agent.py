"""Run a node agent as a host process, configured exactly as the DaemonSet configures its pod.

The operator writes the agents' cephx user and key into Secret kovirt-agent-<dc> and the
monitors into ConfigMap kovirt-ceph-<dc>; the DaemonSet passes them as environment
variables, and so does this function (the agent itself never reads the admin Secret).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import TYPE_CHECKING

from kovirt.errors import KovirtError
from kovirt.localstack.process import free_port, wait_until

if TYPE_CHECKING:
    from kovirt.localstack.stack import Stack


def agent_environment(stack: Stack, dc: str, host: str) -> dict[str, str]:
    """The agent's settings, read from what the operator made for data center `dc`."""
    namespace = "kovirt-system"

    def secret() -> dict | None:
        out = stack.kubectl(
            "get", "secret", f"kovirt-agent-{dc}", "-n", namespace, "-o", "json", check=False
        )
        return json.loads(out) if out.strip() else None

    found = wait_until(secret, 120, interval_s=1, what=f"the operator to create kovirt-agent-{dc}")
    data = {k: base64.b64decode(v).decode() for k, v in found["data"].items()}
    monitors = stack.kubectl(
        "get",
        "configmap",
        f"kovirt-ceph-{dc}",
        "-n",
        namespace,
        "-o",
        "jsonpath={.data.monitors}",
    )
    if not monitors:
        raise KovirtError(f"ConfigMap {namespace}/kovirt-ceph-{dc} has no monitors")
    return {
        "KOVIRT_HOST_NAME": host,
        "KOVIRT_DATACENTER": dc,
        "KOVIRT_NAMESPACE": namespace,
        "KOVIRT_HYPERVISOR": "auto",
        "KOVIRT_LIBVIRT_URI": stack.libvirt.uri,
        "KOVIRT_CEPH_MONITORS": monitors,
        "KOVIRT_CEPH_USER": data["user"],
        "KOVIRT_CEPH_KEY": data["key"],
        "KOVIRT_STATE_DIR": str(stack.root / "agents" / host),
        # Several agents share this machine: each its own metrics port.
        "KOVIRT_METRICS_PORT": str(free_port()),
    }


def start_agent(stack: Stack, dc: str, host: str) -> str:
    env = {**stack._env(), **agent_environment(stack, dc, host)}
    daemon = stack.agent(host)
    if daemon.running():
        return f"pid {daemon.pid()} (reused), log {daemon.log_file}"
    pid = daemon.start([sys.executable, "-m", "kovirt.node_agent.main"], env=env)

    def registered() -> bool:
        if not daemon.running():
            raise KovirtError(f"the agent of {host} exited:\n{daemon.log_tail(15)}")
        phase = stack.kubectl("get", "host", host, "-o", "jsonpath={.status.phase}", check=False)
        return phase == "Ready"

    wait_until(registered, 120, interval_s=0.5, what=f"Host {host} to be Ready")
    return f"pid {pid}, log {daemon.log_file}"
