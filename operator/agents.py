"""What the operator makes per DataCenter for its node agents (pure manifest builders).

- a ConfigMap with a minimal ceph.conf (monitors only: no secret in it);
- a Secret with the agents' own least-privilege cephx key (never the admin key);
- the node-agent DaemonSet, on the DataCenter's nodeSelector;
- in libvirt pod mode, the libvirt DaemonSet the agents talk to (kovirt.operator.libvirt_pods).
All are owned by the DataCenter, so deleting it garbage-collects them.
"""

from __future__ import annotations

import base64
from typing import Any

from kovirt.api.v1alpha1 import DataCenter
from kovirt.api.v1alpha1.common import API_VERSION
from kovirt.api.v1alpha1.datacenter import Hypervisor, LibvirtMode
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
        "libvirt": f"kovirt-libvirt-{dc_name}",
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


def metadata(dc: DataCenter, name: str, namespace: str, component: str = "agent") -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {
            "app.kubernetes.io/name": "kovirt",
            "app.kubernetes.io/component": component,
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
        "metadata": metadata(dc, resource_names(dc.metadata.name)["configmap"], namespace),
        "data": {"ceph.conf": ceph_conf(monitors), "monitors": ",".join(monitors)},
    }


def secret(dc: DataCenter, namespace: str, user: str, key: str) -> dict[str, Any]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(dc, resource_names(dc.metadata.name)["secret"], namespace),
        "data": {"user": b64(user), "key": b64(key)},
    }


def agent_labels(dc_name: str, component: str = "agent") -> dict[str, str]:
    # The chart's PodMonitor and RBAC select agent pods by these labels.
    return {
        "app.kubernetes.io/name": "kovirt",
        "app.kubernetes.io/component": component,
        "kovirt.io/datacenter": dc_name,
    }


def node_name_env() -> dict[str, Any]:
    return {"name": "KOVIRT_HOST_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}


def host_folders(dc: DataCenter) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) for libvirt's socket folder, the state folder and /boot.

    pod mode: per-node subfolders of the configured host folders (`subPathExpr` with the
    node name), mounted at the same paths in the agent and the libvirt pod; the state folder
    must match because libvirt's virtlogd writes the console logs the agent reads.
    host mode: the host's own /var/run/libvirt, and the state folder as it is.
    """
    per_node = dc.spec.agent.libvirt == LibvirtMode.POD
    volumes = [
        host_path("host-run", CONFIG.host_run_dir if per_node else "/var/run/libvirt"),
        host_path("host-state", CONFIG.host_state_dir),
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "host-run", "mountPath": "/run/libvirt"},
        {"name": "host-state", "mountPath": AGENT_STATE_DIR},
    ]
    if per_node:
        mounts[0]["subPathExpr"] = "$(KOVIRT_HOST_NAME)/libvirt"
        mounts[1]["subPathExpr"] = "$(KOVIRT_HOST_NAME)"
    if dc.spec.hosts.hypervisor == Hypervisor.AUTO:
        # Only `auto` probes KVM, by booting the node's own kernel (nodes without /boot can
        # ask kvm or qemu outright).
        volumes.append(host_path("boot", "/boot", kind="Directory"))
        mounts.append({"name": "boot", "mountPath": "/boot", "readOnly": True})
    return volumes, mounts


def host_path(name: str, path: str, kind: str = "DirectoryOrCreate") -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def pod_placement(dc: DataCenter) -> dict[str, Any]:
    """Where a DataCenter's per-host pods run: its hosts, with the chart's settings."""
    spec: dict[str, Any] = {"nodeSelector": dict(dc.spec.hosts.node_selector)}
    if CONFIG.agent_priority_class:
        spec["priorityClassName"] = CONFIG.agent_priority_class
    if CONFIG.agent_tolerations:
        spec["tolerations"] = CONFIG.agent_tolerations
    return spec


def image_of(dc: DataCenter) -> dict[str, str]:
    agent = dc.spec.agent
    return {
        "image": agent.image or CONFIG.agent_image,
        "imagePullPolicy": agent.image_pull_policy or CONFIG.agent_image_pull_policy,
    }


def daemonset(dc: DataCenter, namespace: str) -> dict[str, Any]:
    """The node agents: root (to use libvirt's socket and the host folders) but neither
    privileged nor with any capability; they roll freely (RollingUpdate) because the
    guests live in the libvirt pods, not here."""
    names = resource_names(dc.metadata.name)
    labels = agent_labels(dc.metadata.name)
    agent = dc.spec.agent
    env = [
        node_name_env(),
        {"name": "KOVIRT_DATACENTER", "value": dc.metadata.name},
        {"name": "KOVIRT_NAMESPACE", "value": namespace},
        {"name": "KOVIRT_STATE_DIR", "value": AGENT_STATE_DIR},
        {"name": "KOVIRT_HYPERVISOR", "value": str(dc.spec.hosts.hypervisor)},
        {"name": "KOVIRT_LIBVIRT_MODE", "value": str(agent.libvirt)},
        {"name": "KOVIRT_LIBVIRT_URI", "value": "qemu:///system"},
        {"name": "KOVIRT_METRICS_PORT", "value": str(CONFIG.agent_metrics_port)},
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
    volumes, mounts = host_folders(dc)
    container: dict[str, Any] = {
        "name": "agent",
        **image_of(dc),
        "command": ["/usr/bin/tini", "--", "kovirt-agent"],
        "env": env,
        "ports": [{"name": "metrics", "containerPort": CONFIG.agent_metrics_port}],
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if agent.resources:
        container["resources"] = agent.resources
    pod_spec: dict[str, Any] = {
        "serviceAccountName": CONFIG.agent_service_account,
        **pod_placement(dc),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(dc, names["daemonset"], namespace),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
