"""Which Host runs a VM: a pure function over Hosts and the VMs already placed.

A host qualifies when it belongs to the VM's data center, is Ready and not in maintenance,
carries every label of the VM's nodeSelector, and has room for the VM's cpus and memory
after what placed VMs already ask (vCPUs may be overcommitted by the data center's ratio;
memory never is). Among those, the one with the most free memory wins
(spreads load; ties broken by name so the choice is stable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kovirt.api.quantity import quantity_to_int
from kovirt.api.v1alpha1 import Host, VirtualMachine


@dataclass(frozen=True)
class Placement:
    host: str | None
    reason: str  # "Scheduled", "NoHostInDataCenter", "NoReadyHost", "NoMatchingHost", ...
    message: str


@dataclass(frozen=True)
class Demand:
    cpus: int
    memory_bytes: int

    @classmethod
    def of(cls, vm: VirtualMachine) -> Demand:
        return cls(vm.spec.cpus, quantity_to_int(vm.spec.memory))


def allocated_by_host(vms: Iterable[VirtualMachine], except_uid: str | None) -> dict[str, Demand]:
    """What VMs placed on each host ask for (the VM being placed itself excluded)."""
    totals: dict[str, Demand] = {}
    for vm in vms:
        if vm.status.host is None or vm.metadata.uid == except_uid:
            continue
        old = totals.get(vm.status.host, Demand(0, 0))
        add = Demand.of(vm)
        totals[vm.status.host] = Demand(old.cpus + add.cpus, old.memory_bytes + add.memory_bytes)
    return totals


def choose_host(
    vm: VirtualMachine,
    hosts: Iterable[Host],
    vms: Iterable[VirtualMachine],
    cpu_overcommit: float = 1.0,
) -> Placement:
    in_dc = [h for h in hosts if h.spec.data_center == vm.spec.data_center]
    if not in_dc:
        return Placement(
            None, "NoHostInDataCenter", f"data center {vm.spec.data_center} has no hosts"
        )
    ready = [h for h in in_dc if h.status.is_true("Ready") and not h.spec.maintenance]
    if not ready:
        return Placement(
            None, "NoReadyHost", "no host of the data center is Ready and out of maintenance"
        )
    selector = vm.spec.node_selector
    matching = [h for h in ready if all(h.spec.labels.get(k) == v for k, v in selector.items())]
    if not matching:
        return Placement(None, "NoMatchingHost", f"no Ready host carries the labels {selector}")
    demand = Demand.of(vm)
    allocated = allocated_by_host(vms, vm.metadata.uid)
    fits = []
    for host in matching:
        used = allocated.get(host.metadata.name, Demand(0, 0))
        free_cpus = int(host.status.capacity.cpus * cpu_overcommit) - used.cpus
        free_memory = host.status.capacity.memory_bytes - used.memory_bytes
        if free_cpus >= demand.cpus and free_memory >= demand.memory_bytes:
            fits.append((-free_memory, host.metadata.name))
    if not fits:
        return Placement(
            None,
            "InsufficientResources",
            f"no host has {demand.cpus} cpus and {vm.spec.memory} memory free "
            f"(checked {len(matching)} Ready host(s))",
        )
    best = min(fits)[1]
    return Placement(best, "Scheduled", f"placed on host {best}")
