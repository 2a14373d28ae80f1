"""Storage-domain pools: create or converge them, read them, and delete only our own.

``ensure_pools`` is idempotent and level-based: it validates everything first (the layout
fits the OSD tree, existing pools are ours, nothing immutable changes), then creates what is
missing and changes only settings that differ (read, compare, write, as rook does).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from kovirt.ceph.connection import Cluster
from kovirt.ceph.errors import (
    InvalidLayout,
    NotOwnedByKovirt,
    PoolNotEmpty,
    PoolNotFound,
    translated,
)
from kovirt.ceph.layout import (
    OWNER_KEY,
    PoolSpec,
    PoolState,
    count_failure_domains,
    create_commands,
    immutable_changes,
    update_commands,
    validate_layout,
)


@dataclass(frozen=True)
class PoolNames:
    """Where a domain's images go: ``pool`` for headers, ``data_pool`` (EC) for data."""

    pool: str
    data_pool: str | None


def list_pools(cluster: Cluster) -> dict[str, PoolState]:
    details = cluster.mon_command("osd pool ls", detail="detail")
    return {raw["pool_name"]: PoolState.from_detail(raw) for raw in details}


def get_pool(cluster: Cluster, name: str) -> PoolState:
    pool = list_pools(cluster).get(name)
    if pool is None:
        raise PoolNotFound(f"pool {name} does not exist")
    return pool


def pool_exists(cluster: Cluster, name: str) -> bool:
    return cluster.pool_exists(name)


def crush_rule_ids(cluster: Cluster) -> dict[str, int]:
    rules = cluster.mon_command("osd crush rule dump")
    return {rule["rule_name"]: int(rule["rule_id"]) for rule in rules}


def failure_domains(cluster: Cluster, failure_domain: str, device_class: str | None) -> int:
    return count_failure_domains(cluster.mon_command("osd tree"), failure_domain, device_class)


def validate_pools(cluster: Cluster, spec: PoolSpec) -> None:
    """Everything that can refuse spec, checked before anything is written."""
    existing = list_pools(cluster)
    for name in spec.pool_names():
        state = existing.get(name)
        if state is None:
            continue
        _check_owner(state, spec.owner)
        profile = _ec_profile(cluster, state.ec_profile) if state.erasure else {}
        problems = immutable_changes(spec, state, profile)
        if problems:
            raise InvalidLayout("; ".join(problems))
    # After the existing-pool checks: "k cannot change" says more than "k+m does not fit".
    layout = spec.layout
    validate_layout(layout, failure_domains(cluster, layout.failure_domain, layout.device_class))
    if spec.is_erasure:
        meta = spec.metadata_layout
        validate_layout(meta, failure_domains(cluster, meta.failure_domain, meta.device_class))


def ensure_pools(cluster: Cluster, spec: PoolSpec) -> PoolNames:
    """Create or converge the pool(s) of a storage domain; safe to call again at any point."""
    validate_pools(cluster, spec)
    for name in spec.pool_names():
        if not cluster.pool_exists(name):
            rules = crush_rule_ids(cluster)
            for command in create_commands(spec, name, rules):
                cluster.mon_command(**command)
        state = get_pool(cluster, name)
        for command in update_commands(spec, state, crush_rule_ids(cluster)):
            cluster.mon_command(**command)
    _init_rbd(cluster, spec.name)
    return PoolNames(spec.name, spec.data_pool)


def _init_rbd(cluster: Cluster, pool: str) -> None:
    """``rbd pool init`` once: it writes rbd_info, and it also validates the pool by making
    and removing a snapshot, which changes the OSD map; so skip it when rbd_info exists."""
    import rados
    import rbd

    with cluster.ioctx(pool) as ioctx, translated(f"pool {pool}", not_found=PoolNotFound):
        try:
            ioctx.stat("rbd_info")
        except rados.ObjectNotFound:
            rbd.RBD().pool_init(ioctx, True)


def set_quota(cluster: Cluster, pool: str, max_bytes: int | None) -> None:
    """Set (or with None/0 clear) the pool's byte quota, only if it differs."""
    state = get_pool(cluster, pool)
    wanted = max_bytes or 0
    if state.quota_bytes != wanted:
        cluster.mon_command("osd pool set-quota", pool=pool, field="max_bytes", val=str(wanted))


def get_quota_bytes(cluster: Cluster, pool: str) -> int | None:
    # From the OSD map, not `osd pool get-quota`: that one needs the mgr's stats, which a
    # new pool does not have for a few seconds.
    return get_pool(cluster, pool).quota_bytes or None


def delete_pools(cluster: Cluster, spec: PoolSpec) -> list[str]:
    """Delete a domain's pools (metadata first, then data); missing ones are skipped."""
    deleted = []
    for name in spec.pool_names():
        if cluster.pool_exists(name) and delete_pool(cluster, name, spec.owner):
            deleted.append(name)
    if spec.is_erasure:
        _remove_ec_leftovers(cluster, spec)
    return deleted


def delete_pool(cluster: Cluster, name: str, owner: str, *, allow_images: bool = False) -> bool:
    """Delete one pool, but only one kovirt created for ``owner``; False if it was missing.

    Refused (nothing changed) when the pool carries no or another owner mark, or, unless
    ``allow_images``, when RBD images still live in it.
    """
    try:
        state = get_pool(cluster, name)
    except PoolNotFound:
        return False
    _check_owner(state, owner)
    if not allow_images and not state.erasure:
        images = _image_names(cluster, name)
        if images:
            raise PoolNotEmpty(
                f"pool {name} still holds {len(images)} image(s), e.g. {', '.join(images[:3])}"
            )
    with _DELETE_LOCK, allow_pool_delete(cluster):
        cluster.mon_command(
            "osd pool rm",
            pool=name,
            pool2=name,
            yes_i_really_really_mean_it=True,
            not_found=PoolNotFound,
        )
    # This client's OSD map would still show the pool; callers check right after.
    cluster.wait_for_latest_osdmap()
    return True


# One guarded delete at a time in this process: two overlapping ones would restore the
# safety switch under each other.
_DELETE_LOCK = threading.Lock()


class allow_pool_delete:
    """Turn ``mon_allow_pool_delete`` on around one delete, and back to how it was.

    The safety switch stays off the rest of the time, so nothing else (a stray ``ceph osd
    pool rm``) can delete pools; the ownership check above is what makes this delete safe.
    """

    KEY = "mon_allow_pool_delete"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.previous: str | None = None

    def __enter__(self) -> None:
        for entry in self.cluster.mon_command("config dump"):
            if entry.get("section") == "mon" and entry.get("name") == self.KEY:
                self.previous = str(entry.get("value"))
        if self.previous != "true":
            self.cluster.mon_command("config set", who="mon", name=self.KEY, value="true")

    def __exit__(self, *exc: object) -> None:
        if self.previous == "true":
            return
        if self.previous is None:
            self.cluster.mon_command("config rm", who="mon", name=self.KEY)
        else:
            self.cluster.mon_command("config set", who="mon", name=self.KEY, value=self.previous)


def _remove_ec_leftovers(cluster: Cluster, spec: PoolSpec) -> None:
    """The EC pool's own CRUSH rule (named after it) and its profile outlive the pool."""
    if spec.data_pool and spec.data_pool in crush_rule_ids(cluster):
        cluster.mon_command("osd crush rule rm", name=spec.data_pool)
    if spec.ec_profile_name in cluster.mon_command("osd erasure-code-profile ls"):
        cluster.mon_command("osd erasure-code-profile rm", name=spec.ec_profile_name)


def _check_owner(state: PoolState, owner: str) -> None:
    if state.owner is None:
        raise NotOwnedByKovirt(
            f"pool {state.name} was not created by kovirt (no {OWNER_KEY} mark): "
            "kovirt will not change or delete it"
        )
    if state.owner != owner:
        raise NotOwnedByKovirt(
            f"pool {state.name} belongs to {state.owner!r}, not {owner!r}: kovirt will not "
            "change or delete it"
        )


def _ec_profile(cluster: Cluster, name: str) -> Mapping[str, str]:
    if not name:
        return {}
    return cluster.mon_command("osd erasure-code-profile get", name=name)


def _image_names(cluster: Cluster, pool: str) -> list[str]:
    import rbd

    with cluster.ioctx(pool) as ioctx, translated(f"pool {pool}", not_found=PoolNotFound):
        return sorted(rbd.RBD().list(ioctx))
