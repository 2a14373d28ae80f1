"""Periodic gauges of what exists: objects by kind and phase, VM phases, host readiness.

Computed from one list call per kind every OBSERVE_INTERVAL_S in a background thread, so
the gauges follow phases the agent writes too (not only those the operator sets).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from kovirt.operator import kube
from kovirt.operator.metrics import COLLECTORS

OBSERVE_INTERVAL_S = 15
KINDS = {
    "DataCenter": "datacenters",
    "StorageDomain": "storagedomains",
    "DiskImage": "diskimages",
    "VirtualMachine": "virtualmachines",
    "Host": "hosts",
}
logger = logging.getLogger(__name__)


def observe_once() -> None:
    objects = COLLECTORS["kovirt_objects"]
    vm_phase = COLLECTORS["kovirt_vm_phase"]
    host_ready = COLLECTORS["kovirt_host_ready"]
    objects.clear()
    vm_phase.clear()  # drop series of deleted VMs and of phases they left
    host_ready.clear()
    for kind, plural in KINDS.items():
        items = kube.list_kovirt(plural)
        counts = Counter((i.get("status") or {}).get("phase") or "Unknown" for i in items)
        for phase, count in counts.items():
            objects.labels(kind, phase).set(count)
        for item in items:
            meta, status = item["metadata"], item.get("status") or {}
            if kind == "VirtualMachine" and status.get("phase"):
                vm_phase.labels(meta["namespace"], meta["name"], status["phase"]).set(1)
            if kind == "Host":
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions", [])
                )
                host_ready.labels(meta["name"]).set(1 if ready else 0)


def _loop(stop: threading.Event) -> None:
    while not stop.wait(OBSERVE_INTERVAL_S):
        try:
            observe_once()
        except Exception:  # a failed scrape of the API must not kill the operator
            logger.exception("observing kovirt objects for metrics failed")


def start(stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=_loop, args=(stop,), name="kovirt-observer", daemon=True)
    thread.start()
    return thread
