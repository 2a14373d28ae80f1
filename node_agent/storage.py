"""Check a VM's RBD images with the agent's own cephx identity before QEMU opens them.

Why: QEMU reports a missing image or a refused key only as text, and with a key Ceph
refuses its librbd keeps retrying for minutes inside `virDomainCreate`, which would stall
the agent's loop. librados answers the same question in milliseconds with a typed error
(kovirt.ceph translates it), so a bad VM fails fast with a precise reason. The identity is
the agents' least-privilege user (`profile rbd` on the data center's pools), never admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from kovirt.api.v1alpha1 import VirtualMachine
from kovirt.ceph import images
from kovirt.ceph.connection import Credentials, connect
from kovirt.ceph.errors import CephError, ImageNotFound, PermissionDenied, PoolNotFound

CONNECT_TIMEOUT_S = 10.0

#: kovirt.ceph reasons -> the reason a VM's Failed condition carries.
REASONS = {
    PermissionDenied: "CephPermissionDenied",
    ImageNotFound: "ImageNotFound",
    PoolNotFound: "PoolNotFound",
}


@dataclass(frozen=True)
class DiskProblem:
    reason: str
    message: str


def check_vm_disks(vm: VirtualMachine, mon_host: str, user: str, key: str) -> DiskProblem | None:
    """None when every disk's image opens for the agent's user, else the first problem."""
    disks = [d for d in vm.status.disks if d.pool and d.image]
    if not disks:
        return None
    try:
        with connect(Credentials.from_key(mon_host, user, key), CONNECT_TIMEOUT_S) as cluster:
            for disk in disks:
                images.stat_image(cluster, disk.pool, disk.image)
    except CephError as error:
        reason = next(
            (name for cls, name in REASONS.items() if isinstance(error, cls)), error.reason
        )
        return DiskProblem(reason, f"Ceph, as client.{user}: {error}")
    return None
