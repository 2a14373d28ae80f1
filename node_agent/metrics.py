"""The agent's Prometheus endpoint: every family named in kovirt.metrics.AGENT, nothing else.

libvirt counters (block stats) are cumulative already, so they are exported from a
snapshot the reconcile loop takes each pass, by a custom collector (prometheus_client's
Counter can only be incremented). A scrape never calls libvirt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kovirt.metrics import AGENT, MetricDef

BY_NAME: dict[str, MetricDef] = {metric.name: metric for metric in AGENT}
STATES = ("running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended")

#: libvirt blockStatsFlags key -> (metric, scale to the metric's unit)
BLOCK_STATS = {
    "rd_operations": ("kovirt_agent_disk_read_ops_total", 1.0),
    "wr_operations": ("kovirt_agent_disk_write_ops_total", 1.0),
    "rd_bytes": ("kovirt_agent_disk_read_bytes_total", 1.0),
    "wr_bytes": ("kovirt_agent_disk_write_bytes_total", 1.0),
    "rd_total_times": ("kovirt_agent_disk_read_time_seconds_total", 1e-9),
    "wr_total_times": ("kovirt_agent_disk_write_time_seconds_total", 1e-9),
}


@dataclass
class Snapshot:
    host: str
    cpus: int = 0
    memory_bytes: int = 0
    heartbeat: float | None = None
    #: (namespace, name) -> libvirt state
    vm_states: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (namespace, name, disk) -> libvirt block stats
    disks: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)


def family(name: str) -> Metric:
    metric = BY_NAME[name]  # KeyError: a name not in kovirt.metrics.AGENT
    if metric.kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), metric.help, labels=metric.labels)
    return GaugeMetricFamily(name, metric.help, labels=metric.labels)


class AgentCollector:
    def __init__(self, host: str) -> None:
        self.lock = threading.Lock()
        self.snapshot = Snapshot(host)

    def update(self, **changes) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(self.snapshot, key, value)

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            snap = Snapshot(**vars(self.snapshot))
        host = snap.host
        yield self._gauge("kovirt_agent_host_cpus", [([host], snap.cpus)])
        yield self._gauge("kovirt_agent_host_memory_bytes", [([host], snap.memory_bytes)])
        beats = [([host], snap.heartbeat)] if snap.heartbeat is not None else []
        yield self._gauge("kovirt_agent_heartbeat_timestamp_seconds", beats)
        active = sum(1 for state in snap.vm_states.values() if state != "shutoff")
        yield self._gauge("kovirt_agent_domains", [([host], active)])
        states = family("kovirt_agent_vm_state")
        for (namespace, name), current in sorted(snap.vm_states.items()):
            for state in STATES:
                states.add_metric([host, namespace, name, state], 1 if state == current else 0)
        yield states
        for key, (metric_name, scale) in BLOCK_STATS.items():
            metric = family(metric_name)
            for (namespace, name, disk), stats in sorted(snap.disks.items()):
                if key in stats:
                    metric.add_metric([host, namespace, name, disk], stats[key] * scale)
            yield metric

    @staticmethod
    def _gauge(name: str, samples: list[tuple[list[str], float]]) -> Metric:
        metric = family(name)
        for labels, value in samples:
            metric.add_metric(labels, value)
        return metric


def make_registry(collector: AgentCollector) -> prometheus_client.CollectorRegistry:
    registry = prometheus_client.CollectorRegistry()
    registry.register(collector)
    return registry


def start_server(port: int, registry: prometheus_client.CollectorRegistry) -> None:
    prometheus_client.start_http_server(port, registry=registry)
