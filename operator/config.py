"""Operator settings, from the environment so the same code runs as a process or a pod."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OperatorConfig:
    #: Namespace for the objects the operator makes per DataCenter (agent Secret, ConfigMap,
    #: DaemonSet).
    namespace: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_NAMESPACE", "kovirt-system")
    )
    #: How often observed state (Ceph health, usage, hosts) is refreshed.
    refresh_interval_s: float = field(
        default_factory=lambda: float(os.environ.get("KOVIRT_REFRESH_INTERVAL", "30"))
    )
    #: A Host whose Lease is older than this is not Ready.
    host_lease_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("KOVIRT_HOST_LEASE_TIMEOUT", "40"))
    )
    #: Defaults for the node-agent DaemonSets (the Helm chart sets these).
    agent_image: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_AGENT_IMAGE", "kovirt:0.1.0")
    )
    agent_image_pull_policy: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_AGENT_IMAGE_PULL_POLICY", "IfNotPresent")
    )
    agent_service_account: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_AGENT_SERVICE_ACCOUNT", "kovirt-agent")
    )
    agent_metrics_port: int = field(
        default_factory=lambda: int(os.environ.get("KOVIRT_AGENT_METRICS_PORT", "9474"))
    )
    agent_priority_class: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_AGENT_PRIORITY_CLASS", "")
    )
    agent_tolerations: list = field(
        default_factory=lambda: json.loads(os.environ.get("KOVIRT_AGENT_TOLERATIONS") or "[]")
    )
    #: Host folders the agent and libvirt pods share, one subfolder per node: `<run>/<node>/
    #: libvirt` holds libvirtd's socket, `<state>/<node>` the console logs and KVM probe.
    #: Per node, so that several nodes on one machine (the local stack) never share them.
    host_run_dir: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_HOST_RUN_DIR", "/run/kovirt")
    )
    host_state_dir: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_HOST_STATE_DIR", "/var/lib/kovirt")
    )
    #: Leader election on a coordination.k8s.io Lease (the chart runs two replicas).
    leader_election: bool = field(
        default_factory=lambda: os.environ.get("KOVIRT_LEADER_ELECTION", "false").lower() == "true"
    )
    leader_election_lease: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_LEADER_ELECTION_LEASE", "kovirt-operator")
    )
    #: The operator's Deployment (the chart sets it): owner of the leader-election Lease.
    owner_deployment: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_OWNER_DEPLOYMENT", "")
    )
    pod_name: str = field(
        default_factory=lambda: os.environ.get("KOVIRT_POD_NAME") or socket.gethostname()
    )
    #: Import retries before a DiskImage is Failed.
    import_retries: int = field(
        default_factory=lambda: int(os.environ.get("KOVIRT_IMPORT_RETRIES", "5"))
    )


CONFIG = OperatorConfig()

#: Label set on a VirtualMachine once it is placed; agents watch only their own.
HOST_LABEL = "kovirt.io/host"
#: Finalizer the node agent holds while a guest may still use the VM's disks.
AGENT_FINALIZER = "kovirt.io/node-agent"
