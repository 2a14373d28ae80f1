"""DataCenter: connect to Ceph, keep the agents' cephx user, Secret, ConfigMap and
DaemonSets (agent; libvirt in pod mode) in step, and report health, capacity and hosts.

One level-based `reconcile` serves create, update, resume and the periodic timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import kopf

from kovirt.api.v1alpha1 import DataCenter, DataCenterStatus, Host, StorageDomain
from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.api.v1alpha1.datacenter import LibvirtMode
from kovirt.ceph import health as ceph_health
from kovirt.ceph.errors import CephError
from kovirt.errors import KovirtError
from kovirt.operator import agents, ceph_access, hostsets, kube, libvirt_pods, storage
from kovirt.operator.config import CONFIG
from kovirt.operator.metrics import observe_reconcile, record_datacenter
from kovirt.operator.reporting import existing_status, publish
from kovirt.operator.retry import backoff


def dc_pools(dc_name: str) -> list[str]:
    """Every pool of the data center's storage domains that are not being deleted (blocking).

    Named from the spec, not the status: a domain whose handler has just widened the agents'
    caps may not have published its status yet, and a DataCenter pass reading statuses
    would narrow the caps again (seen on real nodes: the first VM's disk check got EPERM)."""
    names: set[str] = set()
    for raw in kube.list_kovirt("storagedomains"):
        if raw["spec"].get("dataCenter") != dc_name or raw["metadata"].get("deletionTimestamp"):
            continue
        names |= set(storage.pool_spec(StorageDomain.model_validate(raw)).pool_names())
    return sorted(names)


def dc_hosts(dc_name: str) -> tuple[int, int]:
    """(ready, total) Hosts of the data center (blocking)."""
    hosts = [Host.model_validate(h) for h in kube.list_kovirt("hosts")]
    mine = [h for h in hosts if h.spec.data_center == dc_name]
    return sum(1 for h in mine if h.status.is_true("Ready")), len(mine)


def sync_agent_access(
    dc: DataCenter,
    without: Iterable[str] = (),
    also: Iterable[str] = (),
    shared_with: str | None = None,
) -> tuple[str, list[str]]:
    """Agents' cephx user (caps set to the DC's pools, plus `also`, minus `without`: a domain
    being created or deleted is not yet or no longer in the list) and its Secret, ConfigMap
    and DaemonSets. The DaemonSets only while no older DataCenter may own the nodes:
    `shared_with` is that DataCenter's name, "" for none, or None to look it up here.
    Returns (user, pools). Blocking; safe to repeat."""
    cluster = ceph_access.cluster_for(dc)
    target = ceph_access.target_for(dc)
    user = agents.agent_user(dc.metadata.name)
    pools = sorted((set(dc_pools(dc.metadata.name)) | set(also)) - set(without))
    key = storage.ensure_agent_user(cluster, user, pools)
    namespace = CONFIG.namespace
    kube.ensure_namespace(namespace)
    kube.apply_object(agents.secret(dc, namespace, user, key))
    kube.apply_object(agents.configmap(dc, namespace, list(target.monitors)))
    if shared_with is None:
        shared_with = sharing_data_center(dc)
    if not shared_with:  # else another DataCenter owns the nodes: HostsShared
        kube.apply_object(agents.daemonset(dc, namespace))
        sync_libvirt_pods(dc, namespace)
    return user, pools


def sync_libvirt_pods(dc: DataCenter, namespace: str) -> None:
    """The libvirt DaemonSet exists exactly when the DataCenter runs libvirt in pods."""
    if dc.spec.agent.libvirt == LibvirtMode.POD:
        kube.apply_object(libvirt_pods.daemonset(dc, namespace))
    else:
        kube.delete_daemonset(namespace, agents.resource_names(dc.metadata.name)["libvirt"])


def observe(dc: DataCenter, status: DataCenterStatus) -> None:
    """Fill the observed part of status from Ceph and the Hosts (blocking)."""
    cluster = ceph_access.cluster_for(dc)
    status.fsid = ceph_health.fsid(cluster)
    health = ceph_health.health(cluster)
    status.ceph_health = health.status
    capacity = ceph_health.capacity(cluster)
    status.capacity_bytes = capacity.total_bytes
    status.used_bytes = capacity.used_bytes
    status.hosts_ready, status.hosts_total = dc_hosts(dc.metadata.name)


def sharing_data_center(dc: DataCenter) -> str | None:
    """An older DataCenter whose node selector may pick this one's nodes (blocking)."""
    created = (dc.metadata.model_extra or {}).get("creationTimestamp", "")
    return hostsets.first_sharing(
        dc.metadata.name, created, dc.spec.hosts.node_selector, kube.list_kovirt("datacenters")
    )


def report_hosts_shared(dc: DataCenter, status: DataCenterStatus, older: str | None) -> None:
    if older is None:
        status.set_condition(
            "HostsShared", False, "OwnNodes", "no other DataCenter may select these nodes",
            dc.metadata.generation,
        )  # fmt: skip
        return
    message = (
        f"hosts.nodeSelector {dict(dc.spec.hosts.node_selector)} may select nodes of "
        f"DataCenter {older}, which came first: no agent or libvirt pods are made for this "
        "one until both selectors give one key different values (e.g. kovirt.io/datacenter)"
    )
    generation = dc.metadata.generation
    status.set_condition("HostsShared", True, "NodeSelectorOverlaps", message, generation)


def converge(dc: DataCenter, status: DataCenterStatus) -> None:
    generation = dc.metadata.generation
    older = sharing_data_center(dc)
    report_hosts_shared(dc, status, older)
    try:
        user, pools = sync_agent_access(dc, shared_with=older or "")
        observe(dc, status)
    except (CephError, KovirtError) as error:
        ceph_access.forget(dc.metadata.name)
        status.set_condition("CephConnected", False, error.reason, str(error), generation)
        status.set_condition("Ready", False, error.reason, str(error), generation)
        status.phase = "Failed" if status.fsid is None else "Degraded"
        status.ceph_health = status.ceph_health or "Unknown"
        raise
    status.agent_user = f"client.{user}"
    status.agent_pools = pools
    status.set_condition(
        "CephConnected", True, "Connected", f"fsid {status.fsid}, {status.ceph_health}", generation
    )
    status.set_condition(
        "AgentsReady",
        status.hosts_total > 0 and status.hosts_ready == status.hosts_total,
        "AgentsReporting" if status.hosts_total else "NoHosts",
        f"{status.hosts_ready}/{status.hosts_total} hosts Ready",
        generation,
    )
    status.set_condition(
        "Ready", True, "Reconciled", "Ceph reachable, agents configured", generation
    )
    healthy = status.ceph_health != "HEALTH_ERR" and older is None
    status.phase = "Ready" if healthy else "Degraded"
    status.observed_generation = generation


@kopf.on.resume(GROUP, VERSION, "datacenters")
@kopf.on.create(GROUP, VERSION, "datacenters")
@kopf.on.update(GROUP, VERSION, "datacenters", field="spec")
@kopf.timer(GROUP, VERSION, "datacenters", interval=CONFIG.refresh_interval_s, initial_delay=5)
async def reconcile(body: kopf.Body, patch: kopf.Patch, retry: int = 0, **_: Any) -> None:
    dc = DataCenter.from_body(body)
    status = existing_status(DataCenterStatus, body)
    with observe_reconcile("DataCenter"):
        try:
            await asyncio.to_thread(converge, dc, status)
        except (CephError, KovirtError) as error:
            publish(body, patch, status)
            delay = backoff(retry, cap=15)
            raise kopf.TemporaryError(f"{error.reason}: {error}", delay=delay) from error
        finally:
            record_datacenter(dc.metadata.name, status)
    publish(body, patch, status)


def users_of(dc_name: str) -> list[str]:
    """StorageDomains and VirtualMachines that still name the data center (blocking)."""
    found = [
        f"StorageDomain/{sd['metadata']['name']}"
        for sd in kube.list_kovirt("storagedomains")
        if sd["spec"].get("dataCenter") == dc_name
    ]
    found += [
        f"VirtualMachine/{vm['metadata']['namespace']}/{vm['metadata']['name']}"
        for vm in kube.list_kovirt("virtualmachines")
        if vm["spec"].get("dataCenter") == dc_name
    ]
    return found


def release(dc: DataCenter) -> None:
    """Remove the agents' cephx user; owned Kubernetes objects are garbage-collected."""
    try:
        cluster = ceph_access.cluster_for(dc)
        storage.delete_agent_user(cluster, agents.agent_user(dc.metadata.name))
    finally:
        ceph_access.forget(dc.metadata.name)


@kopf.on.delete(GROUP, VERSION, "datacenters")
async def delete(body: kopf.Body, patch: kopf.Patch, retry: int, **_: Any) -> None:
    dc = DataCenter.from_body(body)
    status = existing_status(DataCenterStatus, body)
    users = await asyncio.to_thread(users_of, dc.metadata.name)
    if users:
        message = f"still used by {', '.join(users[:5])}" + (" ..." if len(users) > 5 else "")
        status.set_condition("DeletionBlocked", True, "InUse", message, dc.metadata.generation)
        status.phase = "Deleting"
        publish(body, patch, status)
        raise kopf.TemporaryError(f"DataCenter {dc.metadata.name} {message}", delay=15)
    try:
        await asyncio.to_thread(release, dc)
    except (CephError, KovirtError) as error:
        if retry < 3:
            raise kopf.TemporaryError(
                f"removing the agents' cephx user: {error}", delay=10
            ) from error
        # Ceph is gone or the Secret was deleted first: an orphan cephx user is the only
        # possible leftover, so say so loudly and let the DataCenter go.
        kopf.warn(body, reason="CephCleanupSkipped", message=f"agent user not removed: {error}")
