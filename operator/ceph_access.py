"""Connections to each DataCenter's Ceph cluster, opened from the Secret the DC names.

librados is blocking and thread-safe: one handle per data center, kept open and shared by
handler threads; reopened when the Secret's content changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kovirt.api.v1alpha1 import DataCenter
from kovirt.ceph.connection import Cluster, Credentials
from kovirt.errors import KovirtError
from kovirt.operator import kube


class CredentialsMissing(KovirtError):
    reason = "CephSecretMissing"


@dataclass(frozen=True)
class CephTarget:
    monitors: tuple[str, ...]
    user: str
    key: str

    def credentials(self) -> Credentials:
        return Credentials.from_key(",".join(self.monitors), self.user, self.key)


def target_for(dc: DataCenter) -> CephTarget:
    """Monitors and identity for a data center, from its spec and Secret (blocking)."""
    ref = dc.spec.ceph.secret_ref
    data = kube.read_secret(ref.namespace, ref.name)
    if data is None:
        raise CredentialsMissing(f"Secret {ref.namespace}/{ref.name} does not exist")
    if not data.get("key"):
        raise CredentialsMissing(f"Secret {ref.namespace}/{ref.name} has no `key`")
    monitors = dc.spec.ceph.monitors or [
        m.strip() for m in data.get("monitors", "").split(",") if m.strip()
    ]
    if not monitors:
        raise CredentialsMissing(
            f"no Ceph monitors: set spec.ceph.monitors or the `monitors` key of Secret "
            f"{ref.namespace}/{ref.name}"
        )
    return CephTarget(tuple(monitors), data.get("user", "admin"), data["key"])


_lock = threading.Lock()
_open: dict[str, tuple[CephTarget, Cluster]] = {}


def cluster_for(dc: DataCenter) -> Cluster:
    """The open Cluster of a data center (blocking: connects on first use)."""
    target = target_for(dc)
    with _lock:
        cached = _open.get(dc.metadata.name)
        if cached and cached[0] == target:
            return cached[1]
        if cached:
            cached[1].close()
            del _open[dc.metadata.name]
    cluster = Cluster.open(target.credentials(), timeout_s=10)
    with _lock:
        _open[dc.metadata.name] = (target, cluster)
    return cluster


def forget(dc_name: str) -> None:
    """Close a data center's handle (on deletion, or after a connection error)."""
    with _lock:
        cached = _open.pop(dc_name, None)
    if cached:
        cached[1].close()


def close_all() -> None:
    for name in list(_open):
        forget(name)
