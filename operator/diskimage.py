"""DiskImage: stream the source into RBD once, verify it, snapshot + protect it.

The wrapper imports under a temporary name and renames only a complete, verified image, so
a kill at any moment leaves either nothing or a finished image; the snapshot step is
idempotent. VM disks clone the protected snapshot (O(1)).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf

from kovirt.api.v1alpha1 import DiskImage, DiskImageStatus, StorageDomain
from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.ceph.errors import CephError, ChecksumMismatch
from kovirt.errors import KovirtError
from kovirt.operator import ceph_access, kube, storage
from kovirt.operator.config import CONFIG
from kovirt.operator.importer import DownloadFailed, open_url
from kovirt.operator.metrics import observe_reconcile
from kovirt.operator.reporting import existing_status, publish
from kovirt.operator.retry import backoff
from kovirt.operator.storagedomain import data_center_of

PROGRESS_INTERVAL_S = 2.0


class DomainUnavailable(KovirtError):
    reason = "StorageDomainUnavailable"


def usable_domain(name: str, *, for_new_data: bool) -> StorageDomain:
    """The storage domain, if it exists, is provisioned and (for new data) not in maintenance."""
    raw = kube.get_kovirt("storagedomains", name)
    if raw is None:
        raise DomainUnavailable(
            f"StorageDomain {name} does not exist", reason="StorageDomainNotFound"
        )
    sd = StorageDomain.model_validate(raw)
    if sd.status.pool is None:
        raise DomainUnavailable(
            f"StorageDomain {name} is not provisioned yet", reason="StorageDomainNotReady"
        )
    if for_new_data and sd.spec.maintenance:
        raise DomainUnavailable(
            f"StorageDomain {name} is in maintenance and takes no new images or disks",
            reason="StorageDomainInMaintenance",
        )
    return sd


class ProgressReporter:
    """Patches status.progress from the import thread, at most every PROGRESS_INTERVAL_S."""

    def __init__(self, di: DiskImage) -> None:
        self.di = di
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        progress = f"{done * 100 // total}%" if total else f"{done // 2**20}Mi"
        kube.patch_kovirt(
            "diskimages",
            self.di.metadata.name,
            {"status": {"phase": "Importing", "importedBytes": done, "progress": progress}},
            namespace=self.di.metadata.namespace,
            status=True,
        )


def converge(di: DiskImage, status: DiskImageStatus) -> None:
    """Import (if not done), seal, and fill status (blocking)."""
    generation = di.metadata.generation
    sd = usable_domain(di.spec.storage_domain, for_new_data=True)
    if sd.spec.type == "export":
        raise KovirtError(
            f"StorageDomain {sd.metadata.name} is an export domain; images go in data or iso",
            reason="InvalidStorageDomainType",
        )
    cluster = ceph_access.cluster_for(data_center_of(sd))
    name = storage.golden_image_name(di)
    status.pool, status.image = sd.status.pool, name
    ready = storage.golden_image_ready(cluster, sd.status.pool, name)
    if ready is None:
        url = di.spec.source.http.url
        expected = di.spec.source.http.sha256
        with open_url(url) as download:
            result = storage.import_once(
                cluster,
                sd.status.pool,
                sd.status.data_pool,
                name,
                download.chunks,
                download.size_bytes,
                expected,
                ProgressReporter(di),
            )
        if result is not None:
            status.sha256 = result.sha256
            status.checksum_verified = True if expected else None
        ready = storage.seal_golden_image(cluster, sd.status.pool, name)
    status.snapshot = ready.snapshot
    status.size_bytes = ready.size_bytes
    status.imported_bytes = ready.size_bytes
    status.progress = "100%"
    status.phase = "Ready"
    status.set_condition(
        "Ready", True, "Imported", f"{sd.status.pool}/{name}@{ready.snapshot}", generation
    )
    status.observed_generation = generation


@kopf.on.resume(GROUP, VERSION, "diskimages")
@kopf.on.create(GROUP, VERSION, "diskimages")
@kopf.on.update(GROUP, VERSION, "diskimages", field="spec")
async def reconcile(body: kopf.Body, patch: kopf.Patch, retry: int, **_: Any) -> None:
    di = DiskImage.from_body(body)
    status = existing_status(DiskImageStatus, body)
    generation = di.metadata.generation
    if status.phase in (None, "Pending"):
        status.phase = "Importing"
    with observe_reconcile("DiskImage"):
        try:
            await asyncio.to_thread(converge, di, status)
        except ChecksumMismatch as error:
            status.phase = "Failed"
            status.checksum_verified = False
            status.set_condition("Ready", False, "ChecksumMismatch", str(error), generation)
            publish(body, patch, status)
            raise kopf.PermanentError(str(error)) from error
        except DownloadFailed as error:
            give_up = not error.transient or retry + 1 >= CONFIG.import_retries
            status.phase = "Failed" if give_up else "Importing"
            status.set_condition(
                "Ready", False, error.reason, f"{error} (attempt {retry + 1})", generation
            )
            publish(body, patch, status)
            # Keep trying, slowly once it counts as Failed: the server may come back.
            delay = 300 if give_up else min(60, 5 * 2**retry)
            raise kopf.TemporaryError(str(error), delay=delay) from error
        except (CephError, KovirtError) as error:
            if status.phase != "Ready":
                status.phase = "Pending"
            status.set_condition("Ready", False, error.reason, str(error), generation)
            publish(body, patch, status)
            delay = backoff(retry, cap=20)
            raise kopf.TemporaryError(f"{error.reason}: {error}", delay=delay) from error
    publish(body, patch, status)


def release(di: DiskImage) -> None:
    """Remove the golden image unless VM disks still clone it (blocking)."""
    raw = kube.get_kovirt("storagedomains", di.spec.storage_domain)
    if raw is None:
        return  # the domain (and its pool) is gone already
    sd = StorageDomain.model_validate(raw)
    if sd.status.pool is None:
        return
    cluster = ceph_access.cluster_for(data_center_of(sd))
    name = storage.golden_image_name(di)
    clones = storage.golden_image_clones(cluster, sd.status.pool, name)
    if clones:
        raise KovirtError(f"disks still clone it: {', '.join(clones[:5])}", reason="ClonesExist")
    storage.remove_golden_image(cluster, sd.status.pool, name)


@kopf.on.delete(GROUP, VERSION, "diskimages")
async def delete(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    di = DiskImage.from_body(body)
    try:
        await asyncio.to_thread(release, di)
    except (CephError, KovirtError) as error:
        status = existing_status(DiskImageStatus, body)
        status.set_condition("DeletionBlocked", True, error.reason, str(error))
        publish(body, patch, status)
        raise kopf.TemporaryError(f"DiskImage {di.metadata.name}: {error}", delay=15) from error
