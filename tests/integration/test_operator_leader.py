"""Leader election on a real Lease: one leader at a time, takeover after expiry."""

from __future__ import annotations

import os
import uuid

from kubernetes import client as k8s

from kovirt.operator import kube, leader


def test_only_one_operator_leads_until_the_lease_expires(controlplane, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(controlplane.kubeconfig))
    kube.api_client.cache_clear()
    namespace = "default"
    name = f"leader-{uuid.uuid4().hex[:6]}"
    assert leader.try_acquire(namespace, name, "pod-a")
    assert leader.try_acquire(namespace, name, "pod-a")  # renewing is taking it again
    assert not leader.try_acquire(namespace, name, "pod-b")
    api = k8s.CoordinationV1Api(controlplane.api_client)
    lease = api.read_namespaced_lease(name, namespace)
    lease.spec.lease_duration_seconds = 1
    lease.spec.renew_time = lease.spec.renew_time.replace(year=2000)
    api.replace_namespaced_lease(name, namespace, lease)
    assert leader.try_acquire(namespace, name, "pod-b")
    assert api.read_namespaced_lease(name, namespace).spec.holder_identity == "pod-b"
    api.delete_namespaced_lease(name, namespace)
    assert os.environ["KUBECONFIG"] == str(controlplane.kubeconfig)
