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
from kovirt.localstack.process import wait_until

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
    }


def start_agent(stack: Stack, dc: str, host: str) -> str:
    env = {**stack._env(), **agent_environment(stack, dc, host)}
    pid = stack.agent.start([sys.executable, "-m", "kovirt.node_agent.main"], env=env)
    return f"pid {pid}, log {stack.agent.log_file}"
