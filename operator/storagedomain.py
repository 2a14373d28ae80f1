"""StorageDomain: provision its Ceph pool(s), keep quota/compression/size in step, report
usage, honour maintenance, and refuse deletion while anything lives in it.

After the pools exist, the data center's agent user is widened to them (and narrowed again
when the domain goes), so agents only ever reach pools of their own data center.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kovirt.api.quantity import bytes_to_quantity
from kovirt.api.v1alpha1 import DataCenter, StorageDomain, StorageDomainStatus
from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.ceph.errors import CephError, NotOwnedByKovirt
from kovirt.errors import KovirtError
from kovirt.operator import ceph_access, kube, storage
from kovirt.operator.config import CONFIG
from kovirt.operator.datacenter import sync_agent_access
from kovirt.operator.metrics import observe_reconcile, record_domain
from kovirt.operator.reporting import existing_status, publish
from kovirt.operator.retry import backoff


class DataCenterNotFound(KovirtError):
    reason = "DataCenterNotFound"


def data_center_of(sd: StorageDomain) -> DataCenter:
    raw = kube.get_kovirt("datacenters", sd.spec.data_center)
    if raw is None:
        raise DataCenterNotFound(f"DataCenter {sd.spec.data_center} does not exist")
    return DataCenter.model_validate(raw)


def converge(sd: StorageDomain, status: StorageDomainStatus) -> None:
    """Pools, then agent caps, then observed usage (blocking)."""
    generation = sd.metadata.generation
    dc = data_center_of(sd)
    cluster = ceph_access.cluster_for(dc)
    names = storage.provision_domain(cluster, sd)
    status.pool, status.data_pool = names.pool, names.data_pool
    status.set_condition("PoolReady", True, "PoolProvisioned", f"pool {names.pool}", generation)
    sync_agent_access(dc, also=[p for p in (names.pool, names.data_pool) if p])
    usage = storage.domain_usage(cluster, sd)
    status.used_bytes = usage.stored_bytes
    status.used = bytes_to_quantity(usage.stored_bytes)
    status.quota_bytes = usage.quota_bytes
    status.images = usage.images
    if sd.spec.maintenance:
        status.phase = "Maintenance"
        status.set_condition(
            "Ready", False, "Maintenance", "in maintenance: no new disks or images", generation
        )
    else:
        status.phase = "Active"
        status.set_condition("Ready", True, "Active", "taking new disks and images", generation)
    status.observed_generation = generation


def fail(status: StorageDomainStatus, error: KovirtError, generation: int | None) -> None:
    status.phase = "Failed" if status.pool is None else status.phase
    status.set_condition("Ready", False, error.reason, str(error), generation)


@kopf.on.resume(GROUP, VERSION, "storagedomains")
@kopf.on.create(GROUP, VERSION, "storagedomains")
@kopf.on.update(GROUP, VERSION, "storagedomains", field="spec")
@kopf.timer(GROUP, VERSION, "storagedomains", interval=CONFIG.refresh_interval_s, initial_delay=5)
async def reconcile(body: kopf.Body, patch: kopf.Patch, retry: int = 0, **_: Any) -> None:
    sd = StorageDomain.from_body(body)
    status = existing_status(StorageDomainStatus, body)
    if status.phase is None:
        status.phase = "Provisioning"
    with observe_reconcile("StorageDomain"):
        try:
            await asyncio.to_thread(converge, sd, status)
        except NotOwnedByKovirt as error:
            # Someone else's pool: never touch it. Only a spec change can fix this.
            status.phase = "Failed"
            status.set_condition("Ready", False, "PoolNotOwned", str(error), sd.metadata.generation)
            publish(body, patch, status)
            raise kopf.PermanentError(str(error)) from error
        except (CephError, KovirtError) as error:
            fail(status, error, sd.metadata.generation)
            publish(body, patch, status)
            delay = backoff(retry, cap=20)
            raise kopf.TemporaryError(f"{error.reason}: {error}", delay=delay) from error
        finally:
            record_domain(sd.metadata.name, status)
    publish(body, patch, status)


def users_of(sd: StorageDomain) -> list[str]:
    """DiskImages and VM disks that name this domain (blocking)."""
    name = sd.metadata.name
    found = [
        f"DiskImage/{d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in kube.list_kovirt("diskimages")
        if d["spec"].get("storageDomain") == name
    ]
    for vm in kube.list_kovirt("virtualmachines"):
        if any(disk.get("storageDomain") == name for disk in vm["spec"].get("disks", [])):
            found.append(f"VirtualMachine/{vm['metadata']['namespace']}/{vm['metadata']['name']}")
    return found


def release(sd: StorageDomain) -> str:
    """Delete or keep the pools per reclaimPolicy; narrow the agents' caps (blocking)."""
    dc_raw = kube.get_kovirt("datacenters", sd.spec.data_center)
    if dc_raw is None:
        return "data center gone: pools left as they are"
    dc = DataCenter.model_validate(dc_raw)
    cluster = ceph_access.cluster_for(dc)
    leftover = storage.domain_images(cluster, sd)
    if leftover:
        raise KovirtError(f"pool still holds images {leftover[:5]}", reason="ImagesRemain")
    if sd.spec.reclaim_policy == "Delete":
        try:
            deleted = storage.delete_domain_pools(cluster, sd)
        except NotOwnedByKovirt as error:
            # The domain never owned the pool (it was refused at creation): nothing of ours
            # to reclaim, and someone else's pool is never deleted.
            return f"left pool {storage.pool_name(sd)} untouched: {error}"
        outcome = f"deleted pools {deleted}"
    else:
        outcome = f"kept pool {storage.pool_name(sd)} (reclaimPolicy Retain)"
    return outcome


@kopf.on.delete(GROUP, VERSION, "storagedomains")
async def delete(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    sd = StorageDomain.from_body(body)
    status = existing_status(StorageDomainStatus, body)
    status.phase = "Deleting"
    users = await asyncio.to_thread(users_of, sd)
    try:
        if users:
            more = " ..." if len(users) > 5 else ""
            raise KovirtError(f"still used by {', '.join(users[:5])}{more}", reason="InUse")
        outcome = await asyncio.to_thread(release, sd)
    except (CephError, KovirtError) as error:
        status.set_condition("DeletionBlocked", True, error.reason, str(error))
        publish(body, patch, status)
        raise kopf.TemporaryError(f"StorageDomain {sd.metadata.name}: {error}", delay=15) from error
    kopf.info(body, reason="Released", message=outcome)
    # Narrow the agents' caps now, without this domain's pools (the domain still exists
    # until kopf removes the finalizer after this handler returns).
    await asyncio.to_thread(_narrow_agent_caps, sd)


def _narrow_agent_caps(sd: StorageDomain) -> None:
    dc_raw = kube.get_kovirt("datacenters", sd.spec.data_center)
    if dc_raw is not None:
        sync_agent_access(
            DataCenter.model_validate(dc_raw), without=storage.pool_spec(sd).pool_names()
        )
