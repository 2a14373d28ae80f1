"""What the operator makes per DataCenter for its node agents (pure manifest builders).

- a ConfigMap with a minimal ceph.conf (monitors only: no secret in it);
- a Secret with the agents' own least-privilege cephx key (never the admin key);
- the node-agent DaemonSet, on the DataCenter's nodeSelector.
All three are owned by the DataCenter, so deleting it garbage-collects them.
"""

from __future__ import annotations

import base64
from typing import Any

from kovirt.api.v1alpha1 import DataCenter
from kovirt.api.v1alpha1.common import API_VERSION
from kovirt.operator.config import CONFIG

AGENT_STATE_DIR = "/var/lib/kovirt"


def agent_user(dc_name: str) -> str:
    """The cephx id (without `client.`) the agents of a data center use."""
    return f"kovirt-agent-{dc_name}"


def resource_names(dc_name: str) -> dict[str, str]:
    return {
        "configmap": f"kovirt-ceph-{dc_name}",
        "secret": f"kovirt-agent-{dc_name}",
        "daemonset": f"kovirt-agent-{dc_name}",
    }


def owner_reference(dc: DataCenter) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DataCenter",
        "name": dc.metadata.name,
        "uid": dc.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(dc: DataCenter, name: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {
            "app.kubernetes.io/name": "kovirt",
            "app.kubernetes.io/component": "agent",
            "app.kubernetes.io/managed-by": "kovirt-operator",
            "kovirt.io/datacenter": dc.metadata.name,
        },
        "ownerReferences": [owner_reference(dc)],
    }


def ceph_conf(monitors: list[str]) -> str:
    return f"[global]\nmon_host = {','.join(monitors)}\n"


def configmap(dc: DataCenter, namespace: str, monitors: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(dc, resource_names(dc.metadata.name)["configmap"], namespace),
        "data": {"ceph.conf": ceph_conf(monitors), "monitors": ",".join(monitors)},
    }


def secret(dc: DataCenter, namespace: str, user: str, key: str) -> dict[str, Any]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(dc, resource_names(dc.metadata.name)["secret"], namespace),
        "data": {"user": b64(user), "key": b64(key)},
    }


def daemonset(dc: DataCenter, namespace: str) -> dict[str, Any]:
    names = resource_names(dc.metadata.name)
    # The chart's PodMonitor and RBAC select agent pods by these labels.
    labels = {
        "app.kubernetes.io/name": "kovirt",
        "app.kubernetes.io/component": "agent",
        "kovirt.io/datacenter": dc.metadata.name,
    }
    agent = dc.spec.agent
    env = [
        {"name": "KOVIRT_HOST_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "KOVIRT_DATACENTER", "value": dc.metadata.name},
        {"name": "KOVIRT_NAMESPACE", "value": namespace},
        {"name": "KOVIRT_STATE_DIR", "value": AGENT_STATE_DIR},
        {"name": "KOVIRT_HYPERVISOR", "value": str(dc.spec.hosts.hypervisor)},
        {"name": "KOVIRT_LIBVIRT_MODE", "value": str(agent.libvirt)},
        {
            "name": "KOVIRT_CEPH_MONITORS",
            "valueFrom": {"configMapKeyRef": {"name": names["configmap"], "key": "monitors"}},
        },
        {
            "name": "KOVIRT_CEPH_USER",
            "valueFrom": {"secretKeyRef": {"name": names["secret"], "key": "user"}},
        },
        {
            "name": "KOVIRT_CEPH_KEY",
            "valueFrom": {"secretKeyRef": {"name": names["secret"], "key": "key"}},
        },
    ]
    container: dict[str, Any] = {
        "name": "agent",
        "image": agent.image or CONFIG.agent_image,
        "imagePullPolicy": agent.image_pull_policy or CONFIG.agent_image_pull_policy,
        "command": ["kovirt-agent"],
        "env": env,
        "ports": [{"name": "metrics", "containerPort": CONFIG.agent_metrics_port}],
        "securityContext": {"privileged": True},
        "volumeMounts": [
            {"name": "libvirt-run", "mountPath": "/var/run/libvirt"},
            {"name": "state", "mountPath": AGENT_STATE_DIR},
        ],
    }
    if agent.resources:
        container["resources"] = agent.resources
    pod_spec: dict[str, Any] = {
        "serviceAccountName": CONFIG.agent_service_account,
        "nodeSelector": dict(dc.spec.hosts.node_selector),
        "containers": [container],
        "volumes": [
            {
                "name": "libvirt-run",
                "hostPath": {"path": "/var/run/libvirt", "type": "DirectoryOrCreate"},
            },
            # Console logs live here; libvirtd (on the host or in its pod) writes them, so
            # both must see the same host folder.
            {
                "name": "state",
                "hostPath": {"path": AGENT_STATE_DIR, "type": "DirectoryOrCreate"},
            },
        ],
    }
    if CONFIG.agent_priority_class:
        pod_spec["priorityClassName"] = CONFIG.agent_priority_class
    if CONFIG.agent_tolerations:
        pod_spec["tolerations"] = CONFIG.agent_tolerations
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _metadata(dc, names["daemonset"], namespace),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
