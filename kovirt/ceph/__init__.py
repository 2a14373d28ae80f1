"""kovirt's one way to Ceph: a thin, typed layer over the rados and rbd bindings.

Modules, lowest first:
- ``errors``: kovirt exceptions with a ``reason`` (PoolNotFound, ImageNotFound, ImageBusy,
  PermissionDenied, NotOwnedByKovirt, InvalidLayout, ...) and the binding-error translation.
- ``connection``: ``Credentials`` (conf file, or mon_host + user + key strings from a Secret),
  ``Cluster`` (mon/mgr commands as JSON, I/O contexts) and ``connect(...)``.
- ``layout``: pool layouts, cephx caps and the mon commands they need: pure, unit-tested.
- ``pools``: ``ensure_pools`` (replicated or EC + metadata pool, rbd app, quota, compression,
  owner mark), ``delete_pool``/``delete_pools`` (only pools kovirt marked as its own), quotas.
- ``images``: create, stat, resize, remove, usage, snapshots, clone, flatten, children.
- ``transfer``: ``import_image`` from a byte stream (bounded memory, progress, sha256).
- ``users``: ``ensure_rbd_user`` (profile rbd on named pools only), keys, deletion.
- ``health``: health checks, capacity and per-pool usage.
- ``clients``: fencing (``blocklist_add`` / ``blocklist_rm``) and a client's own address.

Every function is blocking and takes an open ``Cluster`` first. A ``Cluster`` (librados
handle) is thread-safe, so async code shares one and calls through a thread::

    cluster = Cluster.open(Credentials.from_key(mon_host, "admin", key))
    info = await asyncio.to_thread(images.stat_image, cluster, pool, name)
"""

from kovirt.ceph.connection import Cluster, Credentials, connect
from kovirt.ceph.errors import (
    CephError,
    CephUnavailable,
    ChecksumMismatch,
    Fenced,
    ImageBusy,
    ImageExists,
    ImageNotFound,
    InvalidLayout,
    NotOwnedByKovirt,
    PermissionDenied,
    PoolNotEmpty,
    PoolNotFound,
    QuotaExceeded,
    SnapshotNotFound,
)
from kovirt.ceph.layout import ErasureCoded, PoolSpec, Replicated

__all__ = [
    "CephError",
    "CephUnavailable",
    "ChecksumMismatch",
    "Cluster",
    "Credentials",
    "ErasureCoded",
    "Fenced",
    "ImageBusy",
    "ImageExists",
    "ImageNotFound",
    "InvalidLayout",
    "NotOwnedByKovirt",
    "PermissionDenied",
    "PoolNotEmpty",
    "PoolNotFound",
    "PoolSpec",
    "QuotaExceeded",
    "Replicated",
    "SnapshotNotFound",
    "connect",
]
