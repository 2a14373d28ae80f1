"""The Helm chart against the real local API server: server-side dry-run, then a real
install and uninstall. No kubelet runs in the local control plane, so the operator's pods
never start; the tests check what the API server stores and what RBAC allows."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from kovirt.localstack import tools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kovirt"

pytestmark = pytest.mark.controlplane


def helm(cluster, *args: str) -> str:
    argv = [str(tools.helm()), f"--kubeconfig={cluster.kubeconfig}", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def can_i(cluster, account: str, verb: str, resource: str, namespace: str) -> bool:
    """Ask the API server's authorizer, as the chart's ServiceAccount. `resource` may end in
    `/status`: kubectl reads `a/b` as resource a named b, so the subresource is passed apart."""
    resource, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    done = cluster.kubectl(
        "auth", "can-i", verb, resource, *extra, "-n", namespace, f"--as={account}", check=False
    )
    assert done.stdout.strip() in {"yes", "no"}, done.stderr
    return done.stdout.strip() == "yes"


@pytest.fixture
def release() -> str:
    # Unique per test: ClusterRoles are cluster-wide and the control plane is shared.
    return f"kv{uuid.uuid4().hex[:6]}"


def test_the_rendered_chart_passes_a_server_side_dry_run(controlplane, kube_namespace, release):
    rendered = helm(
        controlplane,
        "template",
        release,
        str(CHART),
        "--namespace",
        kube_namespace,
        "--include-crds",
        "--set",
        f"operator.secretNamespaces={{{kube_namespace}}}",
    )
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered) if doc}
    assert {"CustomResourceDefinition", "Deployment", "ClusterRole", "Role"} <= kinds
    done = controlplane.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--force-conflicts",
        "-n",
        kube_namespace,
        "-f",
        "-",
        input=rendered,
    )
    assert done.stdout.count("(server dry run)") == len(
        [doc for doc in yaml.safe_load_all(rendered) if doc]
    )


def test_helm_installs_the_operator_rbac_and_crds_and_uninstalls_them(
    controlplane, kube_namespace, release
):
    notes = helm(
        controlplane, "install", release, str(CHART), "--namespace", kube_namespace, "--wait=false"
    )
    operator = f"{release}-kovirt-operator"
    agent = f"{release}-kovirt-agent"
    assert f"rollout status deployment/{operator}" in notes
    try:
        get = controlplane.kubectl
        deployment = yaml.safe_load(
            get("get", "deployment", operator, "-n", kube_namespace, "-o", "yaml").stdout
        )
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == operator
        get("get", "serviceaccount", operator, agent, "-n", kube_namespace)
        get("get", "clusterrole,clusterrolebinding", operator, agent)
        get("get", "role,rolebinding", operator, agent, "-n", kube_namespace)
        get("get", "configmap", f"{release}-kovirt-dashboard", "-n", kube_namespace)
        for plural in ("datacenters", "storagedomains", "diskimages", "virtualmachines", "hosts"):
            get("get", "crd", f"{plural}.kovirt.io")

        # The RBAC does what the chart promises, as the API server's authorizer sees it.
        as_operator = f"system:serviceaccount:{kube_namespace}:{operator}"
        as_agent = f"system:serviceaccount:{kube_namespace}:{agent}"
        assert can_i(
            controlplane, as_operator, "patch", "virtualmachines.kovirt.io/status", "default"
        )
        assert can_i(controlplane, as_operator, "create", "daemonsets.apps", kube_namespace)
        assert can_i(controlplane, as_operator, "get", "secrets", kube_namespace)
        assert not can_i(controlplane, as_operator, "get", "secrets", "default")
        assert not can_i(controlplane, as_operator, "create", "clusterroles", "default")
        assert can_i(controlplane, as_agent, "create", "hosts.kovirt.io", "default")
        assert can_i(controlplane, as_agent, "update", "leases.coordination.k8s.io", kube_namespace)
        assert can_i(controlplane, as_agent, "patch", "virtualmachines.kovirt.io/status", "default")
        # Its finalizer on its VMs: patch, but never update, create or delete a VM.
        assert can_i(controlplane, as_agent, "patch", "virtualmachines.kovirt.io", "default")
        for verb in ("update", "create", "delete"):
            assert not can_i(controlplane, as_agent, verb, "virtualmachines.kovirt.io", "default")
        assert not can_i(controlplane, as_agent, "patch", "storagedomains.kovirt.io/status", "x")
        assert not can_i(controlplane, as_agent, "get", "secrets", kube_namespace)
    finally:
        # --no-hooks: the pre-delete check is a Job, and no kubelet runs here to run it (the
        # e2e suite runs it on real nodes).
        helm(
            controlplane, "uninstall", release, "--namespace", kube_namespace, "--wait",
            "--no-hooks",
        )  # fmt: skip

    gone = controlplane.kubectl("get", "clusterrole", operator, agent, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    gone = controlplane.kubectl("get", "deployment", operator, "-n", kube_namespace, check=False)
    assert "NotFound" in gone.stderr
    # Helm never deletes CRDs (their objects would go with them): they stay.
    controlplane.kubectl("get", "crd", "virtualmachines.kovirt.io")
