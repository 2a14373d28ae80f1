"""Leader election on a coordination.k8s.io Lease, so the chart can run two replicas.

kopf's own peering needs extra CRDs and RBAC; a Lease is what every Kubernetes controller
uses. The standby blocks in `acquire` until the Lease is free or expired; the leader renews
it from a thread and exits the process if it ever loses it (the Deployment restarts the pod,
which then waits as standby) — never two operators reconciling at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime

from kubernetes.client.exceptions import ApiException

from kovirt.operator import kube
from kovirt.operator.config import CONFIG

LEASE_DURATION_S = 15
RENEW_EVERY_S = 5
logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def owner_references(namespace: str, deployment: str) -> list[dict]:
    """The Lease's owner: the operator's Deployment, when known (read once per process).

    Uninstalling the chart deletes the Deployment and the garbage collector then deletes
    the Lease: nothing of the release is left behind."""
    if not deployment:
        return []
    if deployment not in _owners:
        try:
            found = kube.apps().read_namespaced_deployment(deployment, namespace)
        except ApiException as error:
            logger.warning("cannot read Deployment %s to own the Lease: %s", deployment, error)
            return []
        _owners[deployment] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment,
            "uid": found.metadata.uid,
        }
    return [_owners[deployment]]


_owners: dict[str, dict] = {}


def _lease_body(name: str, holder: str, acquired: datetime | None = None) -> dict:
    now = _now().isoformat().replace("+00:00", "Z")
    spec = {
        "holderIdentity": holder,
        "leaseDurationSeconds": LEASE_DURATION_S,
        "renewTime": now,
        "acquireTime": (acquired.isoformat().replace("+00:00", "Z") if acquired else now),
    }
    return {"metadata": {"name": name}, "spec": spec}


def _owned_lease_body(namespace: str, name: str, holder: str) -> dict:
    body = _lease_body(name, holder)
    owners = owner_references(namespace, CONFIG.owner_deployment)
    if owners:
        body["metadata"]["ownerReferences"] = owners
    return body


def _expired(lease) -> bool:
    renew = lease.spec.renew_time
    if renew is None:
        return True
    duration = lease.spec.lease_duration_seconds or LEASE_DURATION_S
    return (_now() - renew).total_seconds() > duration


def try_acquire(namespace: str, name: str, holder: str) -> bool:
    """One attempt: take the Lease if it is ours, missing or expired (optimistic locking)."""
    api = kube.coordination()
    try:
        lease = api.read_namespaced_lease(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        try:
            api.create_namespaced_lease(namespace, _owned_lease_body(namespace, name, holder))
            return True
        except ApiException as conflict:
            if conflict.status == 409:
                return False
            raise
    if lease.spec.holder_identity not in (holder, None) and not _expired(lease):
        return False
    body = _owned_lease_body(namespace, name, holder)
    body["metadata"]["resourceVersion"] = lease.metadata.resource_version
    try:
        api.replace_namespaced_lease(name, namespace, body)
    except ApiException as error:
        if error.status == 409:  # someone else renewed or took it first
            return False
        raise
    return True


def acquire(namespace: str, name: str, holder: str) -> None:
    """Block until this process leads, then keep renewing in a daemon thread."""
    while not try_acquire(namespace, name, holder):
        logger.info("standby: Lease %s/%s is held by another operator", namespace, name)
        time.sleep(RENEW_EVERY_S)
    logger.info("leading: holding Lease %s/%s as %s", namespace, name, holder)
    threading.Thread(target=_renew_forever, args=(namespace, name, holder), daemon=True).start()


def _renew_forever(namespace: str, name: str, holder: str) -> None:
    last_ok = time.monotonic()
    while True:
        time.sleep(RENEW_EVERY_S)
        try:
            if try_acquire(namespace, name, holder):
                last_ok = time.monotonic()
                continue
            logger.error("lost the leader Lease %s/%s: exiting", namespace, name)
        except Exception:  # API hiccup: keep trying until the Lease would have expired
            logger.exception("renewing the leader Lease failed")
            if time.monotonic() - last_ok < LEASE_DURATION_S - RENEW_EVERY_S:
                continue
            logger.error("could not renew the leader Lease in time: exiting")
        os._exit(1)
