"""Every Prometheus metric kovirt exports, named once.

The operator and the node agent create their collectors from these definitions, and the
Helm chart's alert rules and Grafana dashboard may only name metrics listed here (a test
checks it), so a rename cannot silently break a dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()
    component: Literal["operator", "agent"] = "operator"


OPERATOR = (
    MetricDef("kovirt_reconcile_total", "counter", "Reconciles run.", ("kind", "result")),
    MetricDef(
        "kovirt_reconcile_errors_total", "counter", "Reconciles that failed.", ("kind", "reason")
    ),
    MetricDef(
        "kovirt_reconcile_duration_seconds", "histogram", "Time spent reconciling.", ("kind",)
    ),
    MetricDef("kovirt_objects", "gauge", "kovirt objects by kind and phase.", ("kind", "phase")),
    MetricDef(
        "kovirt_ceph_health",
        "gauge",
        "Ceph health of a data center: 0 OK, 1 WARN, 2 ERR.",
        ("datacenter",),
    ),
    MetricDef("kovirt_ceph_capacity_bytes", "gauge", "Raw Ceph capacity.", ("datacenter",)),
    MetricDef("kovirt_ceph_used_bytes", "gauge", "Raw Ceph usage.", ("datacenter",)),
    MetricDef("kovirt_storagedomain_used_bytes", "gauge", "Bytes stored in a domain.", ("domain",)),
    MetricDef(
        "kovirt_storagedomain_quota_bytes",
        "gauge",
        "Quota of a domain (absent when none).",
        ("domain",),
    ),
    MetricDef(
        "kovirt_storagedomain_active",
        "gauge",
        "1 when the storage domain is Active, else 0.",
        ("domain", "phase"),
    ),
    MetricDef("kovirt_host_ready", "gauge", "1 when the host's Lease is fresh, else 0.", ("host",)),
    MetricDef(
        "kovirt_vm_phase",
        "gauge",
        "1 for the VM's current phase.",
        ("namespace", "name", "phase"),
    ),
    MetricDef(
        "kovirt_disk_provision_seconds",
        "histogram",
        "Time to provision one VM disk.",
        ("source",),
    ),
)

AGENT = tuple(
    MetricDef(name, kind, help_, labels, component="agent")
    for name, kind, help_, labels in (
        ("kovirt_agent_domains", "gauge", "libvirt domains kovirt runs on this host.", ("host",)),
        (
            "kovirt_agent_vm_state",
            "gauge",
            "libvirt state of a VM's domain (1 for its state).",
            ("host", "namespace", "name", "state"),
        ),
        (
            "kovirt_agent_disk_read_ops_total",
            "counter",
            "Read operations of a VM disk.",
            ("host", "namespace", "name", "disk"),
        ),
        (
            "kovirt_agent_disk_write_ops_total",
            "counter",
            "Write operations of a VM disk.",
            ("host", "namespace", "name", "disk"),
        ),
        (
            "kovirt_agent_disk_read_bytes_total",
            "counter",
            "Bytes read from a VM disk.",
            ("host", "namespace", "name", "disk"),
        ),
        (
            "kovirt_agent_disk_write_bytes_total",
            "counter",
            "Bytes written to a VM disk.",
            ("host", "namespace", "name", "disk"),
        ),
        (
            "kovirt_agent_disk_read_time_seconds_total",
            "counter",
            "Time spent on reads of a VM disk (latency = time / ops).",
            ("host", "namespace", "name", "disk"),
        ),
        (
            "kovirt_agent_disk_write_time_seconds_total",
            "counter",
            "Time spent on writes of a VM disk (latency = time / ops).",
            ("host", "namespace", "name", "disk"),
        ),
        (
            "kovirt_agent_heartbeat_timestamp_seconds",
            "gauge",
            "When the agent last renewed its host Lease.",
            ("host",),
        ),
        ("kovirt_agent_host_cpus", "gauge", "Virtual CPUs the host offers.", ("host",)),
        ("kovirt_agent_host_memory_bytes", "gauge", "Memory the host offers.", ("host",)),
    )
)

ALL = OPERATOR + AGENT
BY_NAME = {metric.name: metric for metric in ALL}
