"""Cluster health, capacity and per-pool usage, as numbers the operator puts in status.

These come from the mgr's digest (``ceph df``, health checks): a cluster without a running
mgr answers with zeros, so the local stack always starts one.
"""

from __future__ import annotations

from dataclasses import dataclass

from kovirt.ceph.connection import Cluster
from kovirt.ceph.errors import PoolNotFound


@dataclass(frozen=True)
class Health:
    status: str  # HEALTH_OK | HEALTH_WARN | HEALTH_ERR
    checks: dict[str, str]  # check name -> one-line summary

    @property
    def ok(self) -> bool:
        return self.status == "HEALTH_OK"


@dataclass(frozen=True)
class PoolUsage:
    name: str
    stored_bytes: int  # user data, before replication
    used_bytes: int  # raw bytes, replicas / EC chunks included
    objects: int
    max_avail_bytes: int
    quota_bytes: int | None
    # False for a pool the mgr has no stats for yet (new pools: a few seconds); numbers are 0.
    reported: bool = True


@dataclass(frozen=True)
class Capacity:
    total_bytes: int
    used_bytes: int
    avail_bytes: int
    pools: dict[str, PoolUsage]


def fsid(cluster: Cluster) -> str:
    return cluster.fsid


def health(cluster: Cluster) -> Health:
    raw = cluster.mon_command("health", detail="detail")
    checks = {
        name: check.get("summary", {}).get("message", "")
        for name, check in (raw.get("checks") or {}).items()
    }
    return Health(status=raw["status"], checks=checks)


def capacity(cluster: Cluster) -> Capacity:
    raw = cluster.mon_command("df", detail="detail")
    stats = raw["stats"]
    pools = {p["name"]: _pool_usage(p) for p in raw.get("pools", [])}
    for listed in cluster.mon_command("osd pool ls", detail="detail"):
        name = listed["pool_name"]
        if name not in pools:
            quota = int(listed.get("quota_max_bytes") or 0) or None
            pools[name] = PoolUsage(name, 0, 0, 0, 0, quota, reported=False)
    return Capacity(
        total_bytes=int(stats["total_bytes"]),
        used_bytes=int(stats["total_used_raw_bytes"]),
        avail_bytes=int(stats["total_avail_bytes"]),
        pools=pools,
    )


def pool_usage(cluster: Cluster, pool: str) -> PoolUsage:
    found = capacity(cluster).pools.get(pool)
    if found is None:
        raise PoolNotFound(f"pool {pool} does not exist")
    return found


def _pool_usage(raw: dict) -> PoolUsage:
    stats = raw["stats"]
    quota = int(stats.get("quota_bytes") or 0)
    return PoolUsage(
        name=raw["name"],
        stored_bytes=int(stats.get("stored", stats.get("bytes_used", 0))),
        used_bytes=int(stats.get("bytes_used", 0)),
        objects=int(stats.get("objects", 0)),
        max_avail_bytes=int(stats.get("max_avail", 0)),
        quota_bytes=quota or None,
    )
