"""The operator's Prometheus collectors, built from kovirt.metrics (the one list of names)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import prometheus_client

from kovirt.metrics import OPERATOR, MetricDef

REGISTRY = prometheus_client.CollectorRegistry()

_TYPES = {
    "counter": prometheus_client.Counter,
    "gauge": prometheus_client.Gauge,
    "histogram": prometheus_client.Histogram,
}


def _make(metric: MetricDef) -> Any:
    name = metric.name.removesuffix("_total") if metric.kind == "counter" else metric.name
    return _TYPES[metric.kind](name, metric.help, metric.labels, registry=REGISTRY)


COLLECTORS = {metric.name: _make(metric) for metric in OPERATOR}
HEALTH_VALUE = {"HEALTH_OK": 0, "HEALTH_WARN": 1, "HEALTH_ERR": 2}


def start_server(port: int) -> None:
    prometheus_client.start_http_server(port, registry=REGISTRY)


@contextlib.contextmanager
def observe_reconcile(kind: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    except Exception as error:
        COLLECTORS["kovirt_reconcile_total"].labels(kind, "error").inc()
        reason = getattr(error, "reason", type(error).__name__)
        COLLECTORS["kovirt_reconcile_errors_total"].labels(kind, reason).inc()
        raise
    else:
        COLLECTORS["kovirt_reconcile_total"].labels(kind, "success").inc()
    finally:
        COLLECTORS["kovirt_reconcile_duration_seconds"].labels(kind).observe(
            time.monotonic() - started
        )


def record_datacenter(name: str, status: Any) -> None:
    if status.ceph_health in HEALTH_VALUE:
        COLLECTORS["kovirt_ceph_health"].labels(name).set(HEALTH_VALUE[status.ceph_health])
    if status.capacity_bytes is not None:
        COLLECTORS["kovirt_ceph_capacity_bytes"].labels(name).set(status.capacity_bytes)
    if status.used_bytes is not None:
        COLLECTORS["kovirt_ceph_used_bytes"].labels(name).set(status.used_bytes)


def record_domain(name: str, status: Any) -> None:
    if status.used_bytes is not None:
        COLLECTORS["kovirt_storagedomain_used_bytes"].labels(name).set(status.used_bytes)
    if status.quota_bytes:
        COLLECTORS["kovirt_storagedomain_quota_bytes"].labels(name).set(status.quota_bytes)
    active = COLLECTORS["kovirt_storagedomain_active"]
    for labels in [k for k in active._metrics if k[0] == name]:  # no public remove-matching
        active.remove(*labels)  # one series per domain: its current phase only
    if status.phase:
        active.labels(name, status.phase).set(1 if status.phase == "Active" else 0)
