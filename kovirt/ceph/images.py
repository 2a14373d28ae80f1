"""RBD images: create, inspect, resize, remove, snapshot, clone copy-on-write, flatten.

Each function takes an open ``Cluster`` and names images by ``(pool, name)``; each opens and
closes what it needs (nova's ``RBDVolumeProxy``), so all are safe to call from worker threads
with one shared ``Cluster``. Checks that can refuse come before any change: a refused remove
or unprotect leaves the image exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kovirt.ceph.connection import Cluster
from kovirt.ceph.errors import (
    CephError,
    ImageBusy,
    ImageNotFound,
    InvalidLayout,
    SnapshotNotFound,
    translated,
)


@dataclass(frozen=True)
class ImageRef:
    pool: str
    name: str

    def __str__(self) -> str:
        return f"{self.pool}/{self.name}"


@dataclass(frozen=True)
class ParentRef:
    pool: str
    image: str
    snapshot: str


@dataclass(frozen=True)
class Snapshot:
    name: str
    size_bytes: int
    protected: bool


@dataclass(frozen=True)
class ImageInfo:
    pool: str
    name: str
    size_bytes: int
    object_size_bytes: int
    data_pool: str | None
    features: int
    parent: ParentRef | None
    snapshots: tuple[Snapshot, ...]


@dataclass(frozen=True)
class ImageUsage:
    provisioned_bytes: int
    used_bytes: int  # allocated objects, rounded to whole objects as `rbd du` does


def _rbd():
    import rbd

    return rbd


@contextmanager
def open_image(
    cluster: Cluster, pool: str, name: str, *, snapshot: str | None = None, read_only: bool = False
) -> Iterator[Any]:
    """An open ``rbd.Image``, closed on exit even when the block raises."""
    rbd = _rbd()
    with cluster.ioctx(pool) as ioctx, translated(f"image {pool}/{name}"):
        image = rbd.Image(ioctx, name, snapshot=snapshot, read_only=read_only)
        try:
            yield image
        finally:
            image.close()


def image_exists(cluster: Cluster, pool: str, name: str) -> bool:
    try:
        with open_image(cluster, pool, name, read_only=True):
            return True
    except ImageNotFound:
        return False


def list_images(cluster: Cluster, pool: str) -> list[str]:
    with cluster.ioctx(pool) as ioctx, translated(f"pool {pool}"):
        return sorted(_rbd().RBD().list(ioctx))


def create_image(
    cluster: Cluster,
    pool: str,
    name: str,
    size_bytes: int,
    *,
    data_pool: str | None = None,
    features: int | None = None,
) -> None:
    """A new, thin image; ``data_pool`` puts its data in an (EC) pool beside ``pool``."""
    if size_bytes <= 0:
        raise InvalidLayout(f"image size must be positive, got {size_bytes}")
    rbd = _rbd()
    with cluster.ioctx(pool) as ioctx, translated(f"image {pool}/{name}"):
        rbd.RBD().create(
            ioctx, name, size_bytes, old_format=False, features=features, data_pool=data_pool
        )


def stat_image(cluster: Cluster, pool: str, name: str) -> ImageInfo:
    with (
        open_image(cluster, pool, name, read_only=True) as image,
        translated(f"image {pool}/{name}"),
    ):
        info = image.stat()
        data_pool_id = image.data_pool_id()
        snapshots = tuple(
            Snapshot(s["name"], s["size"], image.is_protected_snap(s["name"]))
            for s in image.list_snaps()
        )
        parent = _parent(image)
        features = image.features()
        data_pool = _pool_name(cluster, data_pool_id) if data_pool_id >= 0 else None
        if data_pool == pool:
            data_pool = None
        return ImageInfo(
            pool=pool,
            name=name,
            size_bytes=info["size"],
            object_size_bytes=info["obj_size"],
            data_pool=data_pool,
            features=features,
            parent=parent,
            snapshots=snapshots,
        )


def _parent(image: Any) -> ParentRef | None:
    rbd = _rbd()
    try:
        parent = image.get_parent_image_spec()
    except rbd.ImageNotFound:
        return None
    return ParentRef(parent["pool_name"], parent["image_name"], parent["snap_name"])


def _pool_name(cluster: Cluster, pool_id: int) -> str:
    with translated(f"pool id {pool_id}"):
        return cluster.handle.pool_reverse_lookup(pool_id)


def parent_of(cluster: Cluster, pool: str, name: str) -> ParentRef | None:
    return stat_image(cluster, pool, name).parent


def resize_image(
    cluster: Cluster, pool: str, name: str, size_bytes: int, *, allow_shrink: bool = False
) -> bool:
    """Grow the image (no-op when already that size); shrinking destroys data, so it is opt-in."""
    with open_image(cluster, pool, name) as image, translated(f"image {pool}/{name}"):
        current = image.size()
        if current == size_bytes:
            return False
        if size_bytes < current and not allow_shrink:
            raise InvalidLayout(
                f"image {pool}/{name} is {current} bytes; shrinking to {size_bytes} would lose "
                "data (pass allow_shrink=True to mean it)"
            )
        image.resize(size_bytes)
        return True


def image_usage(cluster: Cluster, pool: str, name: str) -> ImageUsage:
    """Provisioned vs allocated bytes, from the allocation map (what ``rbd du`` reports)."""
    used = 0

    def count(offset: int, length: int, exists: bool) -> None:
        nonlocal used
        if exists:
            used += length

    with (
        open_image(cluster, pool, name, read_only=True) as image,
        translated(f"image {pool}/{name}"),
    ):
        size = image.size()
        image.diff_iterate(0, size, None, count, include_parent=False, whole_object=True)
    return ImageUsage(provisioned_bytes=size, used_bytes=used)


def remove_image(cluster: Cluster, pool: str, name: str) -> bool:
    """Remove the image; False when it was already gone (removal is idempotent).

    Refused with ImageBusy, and nothing changed, while a client has it open, it has snapshots,
    or clones depend on it.
    """
    try:
        info = stat_image(cluster, pool, name)
    except ImageNotFound:
        return False
    holders = watchers(cluster, pool, name)
    if holders:
        raise ImageBusy(f"image {pool}/{name} is in use by {', '.join(holders)}")
    if info.snapshots:
        names = ", ".join(s.name for s in info.snapshots)
        raise ImageBusy(f"image {pool}/{name} has snapshots ({names}); remove them first")
    with cluster.ioctx(pool) as ioctx, translated(f"image {pool}/{name}"):
        try:
            _rbd().RBD().remove(ioctx, name)
        except _rbd().ImageNotFound:
            return False
    return True


def watchers(cluster: Cluster, pool: str, name: str) -> list[str]:
    """Clients that have the image open (address of each watcher)."""
    with (
        open_image(cluster, pool, name, read_only=True) as image,
        translated(f"image {pool}/{name}"),
    ):
        return [w["addr"] for w in image.watchers_list()]


def write_image(cluster: Cluster, pool: str, name: str, offset: int, data: bytes) -> None:
    with open_image(cluster, pool, name) as image, translated(f"image {pool}/{name}"):
        image.write(data, offset)


def read_image(cluster: Cluster, pool: str, name: str, offset: int, length: int) -> bytes:
    with (
        open_image(cluster, pool, name, read_only=True) as image,
        translated(f"image {pool}/{name}"),
    ):
        return image.read(offset, length)


# ---- snapshots -------------------------------------------------------------------------------


def create_snapshot(cluster: Cluster, pool: str, name: str, snapshot: str) -> bool:
    """Create the snapshot; False if it already existed (idempotent)."""
    with open_image(cluster, pool, name) as image, translated(f"image {pool}/{name}@{snapshot}"):
        if snapshot in {s["name"] for s in image.list_snaps()}:
            return False
        image.create_snap(snapshot)
        return True


def protect_snapshot(cluster: Cluster, pool: str, name: str, snapshot: str) -> bool:
    with (
        open_image(cluster, pool, name) as image,
        translated(f"snapshot {pool}/{name}@{snapshot}", not_found=SnapshotNotFound),
    ):
        if image.is_protected_snap(snapshot):
            return False
        image.protect_snap(snapshot)
        return True


def unprotect_snapshot(cluster: Cluster, pool: str, name: str, snapshot: str) -> bool:
    """Unprotect; refused with ImageBusy (nothing changed) while clones depend on it."""
    children = list_children(cluster, pool, name, snapshot)
    if children:
        raise ImageBusy(
            f"snapshot {pool}/{name}@{snapshot} has clones: {', '.join(map(str, children))}"
        )
    with (
        open_image(cluster, pool, name) as image,
        translated(f"snapshot {pool}/{name}@{snapshot}", not_found=SnapshotNotFound),
    ):
        if not image.is_protected_snap(snapshot):
            return False
        image.unprotect_snap(snapshot)
        return True


def remove_snapshot(cluster: Cluster, pool: str, name: str, snapshot: str) -> bool:
    """Remove an unprotected snapshot; False if it was already gone."""
    with (
        open_image(cluster, pool, name) as image,
        translated(f"snapshot {pool}/{name}@{snapshot}", not_found=SnapshotNotFound),
    ):
        if snapshot not in {s["name"] for s in image.list_snaps()}:
            return False
        if image.is_protected_snap(snapshot):
            raise ImageBusy(f"snapshot {pool}/{name}@{snapshot} is protected")
        image.remove_snap(snapshot)
        return True


# ---- clones ----------------------------------------------------------------------------------


def clone_image(
    cluster: Cluster,
    parent: ImageRef,
    snapshot: str,
    child: ImageRef,
    *,
    data_pool: str | None = None,
    features: int | None = None,
) -> None:
    """Copy-on-write clone of a protected snapshot: O(1) whatever the parent's size."""
    rbd = _rbd()
    with (
        cluster.ioctx(parent.pool) as parent_ctx,
        cluster.ioctx(child.pool) as child_ctx,
        translated(f"clone {parent}@{snapshot} -> {child}"),
    ):
        rbd.RBD().clone(
            parent_ctx,
            parent.name,
            snapshot,
            child_ctx,
            child.name,
            features=features,
            data_pool=data_pool,
        )


def flatten_image(cluster: Cluster, pool: str, name: str) -> bool:
    """Copy the parent's data into the clone so it stands alone; False if it had no parent."""
    with open_image(cluster, pool, name) as image, translated(f"image {pool}/{name}"):
        if _parent(image) is None:
            return False
        image.flatten()
        return True


def list_children(
    cluster: Cluster, pool: str, name: str, snapshot: str | None = None
) -> list[ImageRef]:
    """Clones of the image (of one snapshot, or of any)."""
    with (
        open_image(cluster, pool, name, read_only=True) as image,
        translated(f"image {pool}/{name}", not_found=SnapshotNotFound),
    ):
        if snapshot is not None:
            if snapshot not in {s["name"] for s in image.list_snaps()}:
                raise SnapshotNotFound(f"snapshot {pool}/{name}@{snapshot}: not found")
            image.set_snap(snapshot)
        # The iterator reads through the open image: consume it before the image closes
        # (iterating it afterwards hangs in librbd).
        return [
            ImageRef(c["pool"], c["image"]) for c in image.list_children2() if not c.get("trash")
        ]


__all__ = [
    "CephError",
    "ImageInfo",
    "ImageRef",
    "ImageUsage",
    "ParentRef",
    "Snapshot",
    "clone_image",
    "create_image",
    "create_snapshot",
    "flatten_image",
    "image_exists",
    "image_usage",
    "list_children",
    "list_images",
    "open_image",
    "parent_of",
    "protect_snapshot",
    "read_image",
    "remove_image",
    "remove_snapshot",
    "resize_image",
    "stat_image",
    "unprotect_snapshot",
    "watchers",
    "write_image",
]
