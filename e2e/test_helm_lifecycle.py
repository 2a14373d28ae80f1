"""`helm uninstall` on the real-nodes stack leaves nothing of kovirt's but what the chart
documents it keeps (the CRDs: Helm never deletes them, so custom resources survive a
reinstall), then the release goes back in as it was. Runs after test_first_slice, whose
last test deletes its DataCenter: kovirt objects must be deleted while the operator runs
(their finalizers release Ceph pools and users)."""

from __future__ import annotations

import json

import pytest

from kovirt.errors import KovirtError
from kovirt.localstack.stack import ADMIN_SECRET, OPERATOR_NAMESPACE

pytestmark = pytest.mark.nodes_only

KOVIRT_CRDS = {
    f"{plural}.kovirt.io"
    for plural in ("datacenters", "storagedomains", "diskimages", "virtualmachines", "hosts")
}
# Not the chart's: the Secret the stack made for DataCenter objects to name, and what
# Kubernetes itself puts in every namespace.
NOT_THE_CHARTS = {
    f"secret/{ADMIN_SECRET}",
    "configmap/kube-root-ca.crt",
    "serviceaccount/default",
}
NAMESPACED = "deploy,ds,rs,pods,svc,sa,cm,secrets,roles,rolebindings,leases"


def names(e2e, kinds: str, *args: str) -> set[str]:
    out = e2e.kubectl("get", kinds, *args, "-o", "json")
    return {
        f"{item['kind'].lower()}/{item['metadata']['name']}" for item in json.loads(out)["items"]
    }


def test_uninstall_is_refused_while_kovirt_objects_exist(e2e):
    """The chart's pre-delete hook: finalizers need the operator, so it must stay."""
    dc = {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "DataCenter",
        "metadata": {"name": "e2e-uninstall"},
        "spec": {
            "ceph": {"secretRef": {"name": ADMIN_SECRET, "namespace": OPERATOR_NAMESPACE}},
            "hosts": {"nodeSelector": {"kovirt.io/no-such-node": "x"}},  # no pods
        },
    }
    e2e.kubectl("apply", "-f", "-", input=json.dumps(dc))
    try:
        with pytest.raises(KovirtError, match="kovirt-uninstall-check failed"):
            e2e.stack.helm("uninstall", "kovirt", "-n", OPERATOR_NAMESPACE, "--wait")
        logs = e2e.kubectl("logs", "-n", OPERATOR_NAMESPACE, "job/kovirt-uninstall-check")
        assert "kovirt still manages 1 object(s)" in logs and "dc/e2e-uninstall" in logs
        assert e2e.kubectl("get", "deploy", "kovirt-operator", "-n", OPERATOR_NAMESPACE)
    finally:
        e2e.kubectl("delete", "dc", "e2e-uninstall", "--wait=true", "--timeout=120s")


def test_uninstall_leaves_only_the_crds_and_a_reinstall_comes_back(e2e):
    assert not e2e.kubectl("get", "dc", "-o", "name"), "delete kovirt objects first"
    e2e.stack.helm("uninstall", "kovirt", "-n", OPERATOR_NAMESPACE, "--wait")

    def only_foreign_objects_left() -> bool:
        return names(e2e, NAMESPACED, "-n", OPERATOR_NAMESPACE) <= NOT_THE_CHARTS

    e2e.wait("the release's objects (and what they own) to be gone", only_foreign_objects_left, 120)
    cluster_wide = names(e2e, "clusterroles,clusterrolebindings")
    # kovirt-local-nodes binds the stack's kubelets to system:node: the stack's, not kovirt's.
    assert {n for n in cluster_wide if "kovirt" in n} <= {"clusterrolebinding/kovirt-local-nodes"}
    crds = {line.split("/")[1] for line in e2e.kubectl("get", "crd", "-o", "name").split()}
    assert crds >= KOVIRT_CRDS  # kept, as the chart documents

    e2e.stack.helm(*e2e.stack.install_args())
    rollout = ["rollout", "status", "deploy/kovirt-operator", "-n", OPERATOR_NAMESPACE]
    e2e.kubectl(*rollout, "--timeout=180s")
