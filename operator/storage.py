"""What the operator asks of Ceph, in kovirt's terms (blocking: call via asyncio.to_thread).

Handlers speak of storage domains, golden images and VM disks; this module maps those to
the thin wrapper in kovirt.ceph (pools, images, users) and owns the naming of every pool,
image and snapshot kovirt makes, so names are decided in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kovirt.api.quantity import quantity_to_int
from kovirt.api.v1alpha1 import DiskImage, StorageDomain, VirtualMachine
from kovirt.ceph import health as ceph_health
from kovirt.ceph import images, layout, pools, transfer, users
from kovirt.ceph.connection import Cluster
from kovirt.ceph.errors import ImageNotFound, SnapshotNotFound

GOLDEN_SNAPSHOT = "golden"


# ---- storage domains --------------------------------------------------------------------------


def pool_name(sd: StorageDomain) -> str:
    return sd.spec.pool.name or f"kovirt-{sd.metadata.name}"


def pool_spec(sd: StorageDomain) -> layout.PoolSpec:
    """The wrapper's PoolSpec for a domain.

    The owner mark is the domain's *name*, not its uid: with reclaimPolicy Retain the pools
    outlive the StorageDomain, and re-creating a domain of the same name adopts them again
    (oVirt's "import storage domain"). A pool marked for another name, or not marked, is
    never touched.
    """
    pool = sd.spec.pool
    common = {"failure_domain": str(pool.failure_domain), "device_class": pool.device_class}
    if pool.erasure_coded is not None:
        shape: layout.Layout = layout.ErasureCoded(
            pool.erasure_coded.data_chunks, pool.erasure_coded.coding_chunks, **common
        )
    else:
        replicated = pool.replicated
        shape = layout.Replicated(replicated.size, replicated.min_size, **common)
    return layout.PoolSpec(
        name=pool_name(sd),
        owner=f"storagedomain/{sd.metadata.name}",
        layout=shape,
        quota_bytes=quantity_to_int(pool.quota) if pool.quota else None,
        compression=str(pool.compression),
    )


def provision_domain(cluster: Cluster, sd: StorageDomain) -> pools.PoolNames:
    """Create or converge the domain's pool(s): layout, quota, compression, rbd app."""
    return pools.ensure_pools(cluster, pool_spec(sd))


@dataclass(frozen=True)
class DomainUsage:
    stored_bytes: int
    quota_bytes: int | None
    images: int


def domain_usage(cluster: Cluster, sd: StorageDomain) -> DomainUsage:
    spec = pool_spec(sd)
    data = ceph_health.pool_usage(cluster, spec.data_pool or spec.name)
    return DomainUsage(data.stored_bytes, data.quota_bytes, len(domain_images(cluster, sd)))


def domain_images(cluster: Cluster, sd: StorageDomain) -> list[str]:
    """Complete images in the domain's pool (none when the pool is gone); partial imports
    are leftovers a retry removes, not content."""
    spec = pool_spec(sd)
    if not pools.pool_exists(cluster, spec.name):
        return []
    return [n for n in images.list_images(cluster, spec.name) if not _is_partial(n)]


def delete_domain_pools(cluster: Cluster, sd: StorageDomain) -> list[str]:
    """Delete the domain's pools, only those marked as created for this domain."""
    return pools.delete_pools(cluster, pool_spec(sd))


def _is_partial(name: str) -> bool:
    return name.endswith(transfer.PARTIAL_SUFFIX)


# ---- golden images ----------------------------------------------------------------------------


def golden_image_name(di: DiskImage) -> str:
    """Namespace, name and a piece of the uid: a re-created DiskImage gets a fresh image."""
    return f"{di.metadata.namespace}.{di.metadata.name}.{di.metadata.uid[:8]}"


@dataclass(frozen=True)
class GoldenImage:
    pool: str
    image: str
    snapshot: str
    size_bytes: int


def golden_image_ready(cluster: Cluster, pool: str, name: str) -> GoldenImage | None:
    """The golden image when it is complete (imported, snapshotted, protected), else None."""
    if not images.image_exists(cluster, pool, name):
        return None
    info = images.stat_image(cluster, pool, name)
    snap = next((s for s in info.snapshots if s.name == GOLDEN_SNAPSHOT), None)
    if snap is None or not snap.protected:
        return None
    return GoldenImage(pool, name, GOLDEN_SNAPSHOT, info.size_bytes)


def import_once(
    cluster: Cluster,
    pool: str,
    data_pool: str | None,
    name: str,
    chunks: Iterable[bytes],
    size_bytes: int | None,
    sha256: str | None,
    progress: Callable[[int, int | None], None] | None = None,
) -> transfer.ImportResult | None:
    """Stream into pool/name, golden image or VM disk; None when a previous run already
    finished the import (the wrapper renames only complete, verified images)."""
    if images.image_exists(cluster, pool, name):
        return None
    return transfer.import_image(
        cluster,
        pool,
        name,
        chunks,
        size_bytes=size_bytes,
        expected_sha256=sha256,
        data_pool=data_pool,
        progress=progress,
    )


def seal_golden_image(cluster: Cluster, pool: str, name: str) -> GoldenImage:
    """Snapshot and protect (both idempotent) so VM disks can clone it."""
    images.create_snapshot(cluster, pool, name, GOLDEN_SNAPSHOT)
    images.protect_snapshot(cluster, pool, name, GOLDEN_SNAPSHOT)
    ready = golden_image_ready(cluster, pool, name)
    assert ready is not None
    return ready


def golden_image_clones(cluster: Cluster, pool: str, name: str) -> list[str]:
    try:
        children = images.list_children(cluster, pool, name, GOLDEN_SNAPSHOT)
    except (ImageNotFound, SnapshotNotFound):
        return []
    return [str(c) for c in children]


def remove_golden_image(cluster: Cluster, pool: str, name: str) -> None:
    """Unprotect, drop the snapshot, remove the image; each step tolerates 'already done'."""
    if not images.image_exists(cluster, pool, name):
        images.remove_image(cluster, pool, transfer.partial_name(name))
        return
    try:
        images.unprotect_snapshot(cluster, pool, name, GOLDEN_SNAPSHOT)
        images.remove_snapshot(cluster, pool, name, GOLDEN_SNAPSHOT)
    except SnapshotNotFound:
        pass
    images.remove_image(cluster, pool, name)


# ---- VM disks ---------------------------------------------------------------------------------


def disk_image_name(vm: VirtualMachine, disk: str) -> str:
    return f"{vm.metadata.namespace}.{vm.metadata.name}.{disk}.{vm.metadata.uid[:8]}"


def ensure_blank_disk(
    cluster: Cluster, pool: str, data_pool: str | None, name: str, size_bytes: int
) -> int:
    """Create an empty disk unless it exists; grow it when asked bigger. Returns its size."""
    if not images.image_exists(cluster, pool, name):
        images.create_image(cluster, pool, name, size_bytes, data_pool=data_pool)
    return _grow_to(cluster, pool, name, size_bytes)


def ensure_clone_disk(
    cluster: Cluster,
    parent: GoldenImage,
    pool: str,
    data_pool: str | None,
    name: str,
    size_bytes: int | None,
) -> int:
    """Copy-on-write clone of the golden snapshot unless it exists; grow if asked."""
    if not images.image_exists(cluster, pool, name):
        images.clone_image(
            cluster,
            images.ImageRef(parent.pool, parent.image),
            parent.snapshot,
            images.ImageRef(pool, name),
            data_pool=data_pool,
        )
    return _grow_to(cluster, pool, name, size_bytes or 0)


def _grow_to(cluster: Cluster, pool: str, name: str, size_bytes: int) -> int:
    """Grow (never shrink: shrinking would destroy data) and return the size."""
    current = images.stat_image(cluster, pool, name).size_bytes
    if size_bytes > current:
        images.resize_image(cluster, pool, name, size_bytes)
        return size_bytes
    return current


def remove_disk(cluster: Cluster, pool: str, name: str) -> bool:
    """Remove a VM disk (and a partial import of it); False when it was already gone."""
    images.remove_image(cluster, pool, transfer.partial_name(name))
    return images.remove_image(cluster, pool, name)


def disk_parent(cluster: Cluster, pool: str, name: str) -> str | None:
    parent = images.parent_of(cluster, pool, name)
    return f"{parent.pool}/{parent.image}@{parent.snapshot}" if parent else None


# ---- agents' cephx user -----------------------------------------------------------------------


def ensure_agent_user(cluster: Cluster, user: str, pool_names: Iterable[str]) -> str:
    """The agents' user with `profile rbd` on exactly these pools; returns its key."""
    names = sorted(set(pool_names))
    if not names:
        return users.ensure_user(cluster, user, {"mon": "profile rbd"})
    return users.ensure_rbd_user(cluster, user, names)


def delete_agent_user(cluster: Cluster, user: str) -> bool:
    return users.delete_user(cluster, user)


def grow_disk(cluster: Cluster, pool: str, name: str, size_bytes: int) -> int:
    return _grow_to(cluster, pool, name, size_bytes)
