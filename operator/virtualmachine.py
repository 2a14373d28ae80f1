"""VirtualMachine: provision its disks, place it on a Host, and hand it to that host's agent.

The operator records intent (disks, `status.host`, the `kovirt.io/host` label the agent
watches by); it never calls libvirt. On deletion it waits until the agent has let go of the
guest (the agent's finalizer), then removes the disks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kovirt.api.quantity import quantity_to_int
from kovirt.api.v1alpha1 import (
    DataCenter,
    DiskImage,
    Host,
    VirtualMachine,
    VirtualMachineStatus,
)
from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.api.v1alpha1.virtualmachine import OPERATOR_PHASES, Disk, DiskStatus, VMPhase
from kovirt.ceph.errors import CephError
from kovirt.errors import KovirtError
from kovirt.operator import ceph_access, kube, storage
from kovirt.operator.config import AGENT_FINALIZER, HOST_LABEL
from kovirt.operator.diskimage import usable_domain
from kovirt.operator.importer import DownloadFailed, open_url
from kovirt.operator.metrics import observe_reconcile
from kovirt.operator.placement import choose_host
from kovirt.operator.reporting import existing_status, publish
from kovirt.operator.retry import backoff
from kovirt.operator.storagedomain import data_center_of

#: Status fields the operator writes; `runtime` (and phase from Starting on) is the agent's.
OPERATOR_FIELDS = ("observed_generation", "conditions", "host", "disks")


class NotReadyYet(KovirtError):
    """Something the VM needs is coming but not there yet (retry soon)."""

    reason = "Waiting"


class Unschedulable(KovirtError):
    reason = "Unschedulable"


def golden_image_for(vm: VirtualMachine, name: str) -> DiskImage:
    raw = kube.get_kovirt("diskimages", name, vm.metadata.namespace)
    if raw is None:
        raise NotReadyYet(
            f"DiskImage {vm.metadata.namespace}/{name} does not exist", reason="DiskImageNotFound"
        )
    image = DiskImage.model_validate(raw)
    if image.status.phase != "Ready":
        raise NotReadyYet(
            f"DiskImage {name} is {image.status.phase or 'Pending'}", reason="DiskImageNotReady"
        )
    return image


def provision_disk(vm: VirtualMachine, disk: Disk) -> DiskStatus:
    """Make one disk exist at the asked size (blocking, idempotent)."""
    sd = usable_domain(disk.storage_domain, for_new_data=False)
    if sd.spec.data_center != vm.spec.data_center:
        raise KovirtError(
            f"disk {disk.name}: StorageDomain {sd.metadata.name} belongs to data center "
            f"{sd.spec.data_center}, not {vm.spec.data_center}",
            reason="StorageDomainInOtherDataCenter",
        )
    cluster = ceph_access.cluster_for(data_center_of(sd))
    pool, data_pool = sd.status.pool, sd.status.data_pool
    name = storage.disk_image_name(vm, disk.name)
    size = quantity_to_int(disk.size) if disk.size else None
    if not storage.images.image_exists(cluster, pool, name) and sd.spec.maintenance:
        raise KovirtError(
            f"disk {disk.name}: StorageDomain {sd.metadata.name} is in maintenance and takes "
            "no new disks",
            reason="StorageDomainInMaintenance",
        )
    source = disk.source
    if source.blank is not None:
        size = storage.ensure_blank_disk(cluster, pool, data_pool, name, size or 0)
    elif source.image is not None:
        image = golden_image_for(vm, source.image.name)
        parent = storage.GoldenImage(
            image.status.pool, image.status.image, image.status.snapshot, image.status.size_bytes
        )
        size = storage.ensure_clone_disk(cluster, parent, pool, data_pool, name, size)
    else:
        with open_url(source.http.url) as download:
            storage.import_once(
                cluster,
                pool,
                data_pool,
                name,
                download.chunks,
                download.size_bytes,
                source.http.sha256,
            )
        size = storage.grow_disk(cluster, pool, name, size or 0)
    return DiskStatus(
        name=disk.name,
        pool=pool,
        data_pool=data_pool,
        image=name,
        size_bytes=size,
        parent=storage.disk_parent(cluster, pool, name),
        ready=True,
    )


def place(vm: VirtualMachine) -> str:
    """Keep the current host if it still exists, else choose one (blocking)."""
    hosts = [Host.model_validate(h) for h in kube.list_kovirt("hosts")]
    if vm.status.host and any(h.metadata.name == vm.status.host for h in hosts):
        return vm.status.host
    vms = [VirtualMachine.model_validate(v) for v in kube.list_kovirt("virtualmachines")]
    dc = kube.get_kovirt("datacenters", vm.spec.data_center)
    ratio = DataCenter.model_validate(dc).spec.hosts.cpu_overcommit if dc else 1.0
    placement = choose_host(vm, hosts, vms, cpu_overcommit=ratio)
    if placement.host is None:
        raise Unschedulable(placement.message, reason=placement.reason)
    return placement.host


def converge(vm: VirtualMachine, status: VirtualMachineStatus) -> str | None:
    """Disks, then placement; returns the chosen host or None for a Halted, unplaced VM."""
    generation = vm.metadata.generation
    data_center_of_vm(vm)
    disks = []
    for disk in vm.spec.disks:
        disks.append(provision_disk(vm, disk))
        status.disks = disks + [d for d in status.disks if d.name not in {x.name for x in disks}]
    status.disks = disks
    status.set_condition(
        "DisksReady", True, "Provisioned", f"{len(disks)} disk(s) ready", generation
    )
    if vm.spec.run_strategy == "Halted" and not vm.status.host:
        status.set_condition(
            "Scheduled", False, "Halted", "runStrategy Halted: not placed", generation
        )
        return None
    host = place(vm)
    status.host = host
    status.set_condition("Scheduled", True, "Scheduled", f"placed on host {host}", generation)
    status.observed_generation = generation
    return host


def data_center_of_vm(vm: VirtualMachine) -> None:
    if kube.get_kovirt("datacenters", vm.spec.data_center) is None:
        raise NotReadyYet(
            f"DataCenter {vm.spec.data_center} does not exist", reason="DataCenterNotFound"
        )


def operator_phase(vm: VirtualMachine, host: str | None) -> str | None:
    """The phase to write, or None when the agent owns the phase now.

    The operator writes Pending / Provisioning / Scheduled, and Stopped for a Halted VM
    that has no host (no agent will ever speak for it). Once an agent has written a later
    phase for a placed VM, the phase is the agent's.
    """
    current = vm.status.phase
    agent_owned = current is not None and current not in OPERATOR_PHASES
    if agent_owned and not (current == VMPhase.STOPPED and vm.status.host is None):
        return None
    if host is None:
        return VMPhase.STOPPED if vm.spec.run_strategy == "Halted" else VMPhase.PENDING
    return VMPhase.SCHEDULED


@kopf.on.resume(GROUP, VERSION, "virtualmachines")
@kopf.on.create(GROUP, VERSION, "virtualmachines")
@kopf.on.update(GROUP, VERSION, "virtualmachines", field="spec")
async def reconcile(body: kopf.Body, patch: kopf.Patch, retry: int = 0, **_: Any) -> None:
    vm = VirtualMachine.from_body(body)
    status = existing_status(VirtualMachineStatus, body)
    generation = vm.metadata.generation
    if vm.status.phase is None:
        patch.status["phase"] = VMPhase.PROVISIONING
    with observe_reconcile("VirtualMachine"):
        try:
            host = await asyncio.to_thread(converge, vm, status)
        except (CephError, KovirtError, DownloadFailed) as error:
            scheduling = isinstance(error, Unschedulable)
            condition = "Scheduled" if scheduling else "DisksReady"
            status.set_condition(condition, False, error.reason, str(error), generation)
            publish(body, patch, status, owned_fields=OPERATOR_FIELDS)
            if vm.status.phase in (None, VMPhase.PROVISIONING, VMPhase.PENDING):
                patch.status["phase"] = VMPhase.PENDING
            delay = backoff(retry, cap=30 if scheduling else 10)
            raise kopf.TemporaryError(f"{error.reason}: {error}", delay=delay) from error
    publish(body, patch, status, owned_fields=OPERATOR_FIELDS)
    if host is not None and vm.metadata.labels.get(HOST_LABEL) != host:
        patch.metadata.setdefault("labels", {})[HOST_LABEL] = host
    phase = operator_phase(vm, host)
    if phase is not None and phase != vm.status.phase:
        patch.status["phase"] = phase


def remove_disks(vm: VirtualMachine) -> list[str]:
    """Remove every disk the VM has or may have had (blocking; missing ones are fine)."""
    removed = []
    known = {d.name: d for d in vm.status.disks}
    for disk in vm.spec.disks:
        if disk.name not in known:
            known[disk.name] = DiskStatus(name=disk.name)
    for name, disk_status in known.items():
        domain = next((d.storage_domain for d in vm.spec.disks if d.name == name), None)
        raw = kube.get_kovirt("storagedomains", domain) if domain else None
        if raw is None:
            continue
        sd = usable_domain(domain, for_new_data=False)
        cluster = ceph_access.cluster_for(data_center_of(sd))
        image = disk_status.image or storage.disk_image_name(vm, name)
        if storage.remove_disk(cluster, disk_status.pool or sd.status.pool, image):
            removed.append(image)
    return removed


@kopf.on.delete(GROUP, VERSION, "virtualmachines")
async def delete(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    vm = VirtualMachine.from_body(body)
    if AGENT_FINALIZER in (body.get("metadata", {}).get("finalizers") or []):
        raise kopf.TemporaryError(
            f"waiting for the agent on {vm.status.host} to stop the guest", delay=3
        )
    try:
        removed = await asyncio.to_thread(remove_disks, vm)
    except (CephError, KovirtError) as error:
        status = existing_status(VirtualMachineStatus, body)
        status.set_condition("DeletionBlocked", True, error.reason, str(error))
        publish(body, patch, status, owned_fields=("conditions",))
        raise kopf.TemporaryError(f"removing disks: {error}", delay=10) from error
    if removed:
        kopf.info(body, reason="DisksRemoved", message=", ".join(removed))
