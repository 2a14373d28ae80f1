"""Operator settings, from the environment so the same code runs as a process or a pod."""

from __future__ import annotations

import os
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
    #: Import retries before a DiskImage is Failed.
    import_retries: int = field(
        default_factory=lambda: int(os.environ.get("KOVIRT_IMPORT_RETRIES", "5"))
    )


CONFIG = OperatorConfig()

#: Label set on a VirtualMachine once it is placed; agents watch only their own.
HOST_LABEL = "kovirt.io/host"
#: Finalizer the node agent holds while a guest may still use the VM's disks.
AGENT_FINALIZER = "kovirt.io/node-agent"
#: rbd image metadata key recording which kovirt object owns an image.
OWNER_KEY = "kovirt.io/owner-uid"
