"""Fencing: blocklist a dead host's RBD client before its VMs start elsewhere.

With exclusive-lock, a blocklisted client can no longer write, so a host that only looked dead
cannot corrupt a disk that another host has taken over (split brain fails, it does not corrupt).
"""

from __future__ import annotations

from kovirt.ceph.connection import Cluster


def own_address(cluster: Cluster) -> str:
    """This connection's client address (what another host would blocklist to fence us)."""
    return cluster.handle.get_addrs()


def blocklist_add(cluster: Cluster, addr: str, expire_s: float | None = None) -> None:
    """Fence ``addr`` (``ip:port/nonce``, or ``ip`` for every client of a host)."""
    args: dict[str, object] = {"blocklistop": "add", "addr": addr}
    if expire_s is not None:
        args["expire"] = float(expire_s)
    cluster.mon_command("osd blocklist", **args)


def blocklist_rm(cluster: Cluster, addr: str) -> bool:
    """Lift the fence; False when ``addr`` was not blocklisted."""
    if addr not in blocklisted(cluster):
        return False
    cluster.mon_command("osd blocklist", blocklistop="rm", addr=addr)
    return True


def blocklisted(cluster: Cluster) -> list[str]:
    return [entry["addr"] for entry in cluster.mon_command("osd blocklist ls") or []]
