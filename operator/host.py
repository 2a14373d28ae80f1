"""Host liveness: a Host whose agent stopped renewing its Lease is marked NotReady.

The agent writes its Host's status while it lives; a dead agent cannot say so, so the
operator does it, and only then (the agent overwrites the status again when it returns).
The Lease is `kovirt-host-<host>` in the operator's namespace, renewed every few seconds;
it counts as lost once older than its leaseDurationSeconds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kovirt.api.v1alpha1 import Host, HostStatus
from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.operator import kube
from kovirt.operator.config import CONFIG
from kovirt.operator.reporting import existing_status, publish

HOST_CHECK_INTERVAL_S = 5


def lease_name(host: str) -> str:
    return f"kovirt-host-{host}"


def heartbeat_age_s(host: str) -> tuple[float | None, float]:
    """(seconds since the last renewal or None if there is no Lease, allowed duration)."""
    try:
        lease = kube.coordination().read_namespaced_lease(lease_name(host), CONFIG.namespace)
    except ApiException as error:
        if error.status == 404:
            return None, CONFIG.host_lease_timeout_s
        raise
    duration = float(lease.spec.lease_duration_seconds or CONFIG.host_lease_timeout_s)
    renewed = lease.spec.renew_time or lease.spec.acquire_time
    if renewed is None:
        return None, duration
    return (datetime.now(UTC) - renewed).total_seconds(), duration


@kopf.timer(GROUP, VERSION, "hosts", interval=HOST_CHECK_INTERVAL_S, initial_delay=5)
async def check_heartbeat(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    host = Host.from_body(body)
    age, allowed = await asyncio.to_thread(heartbeat_age_s, host.metadata.name)
    if age is not None and age <= allowed:
        return  # alive: the agent owns the status
    status = existing_status(HostStatus, body)
    if not status.is_true("Ready") and status.phase == "NotReady":
        return
    why = "no Lease" if age is None else f"last heartbeat {age:.0f}s ago (allowed {allowed:.0f}s)"
    status.set_condition("Ready", False, "HeartbeatLost", f"agent not heard from: {why}")
    status.phase = "NotReady"
    publish(body, patch, status, owned_fields=("conditions", "phase"))
