"""The libvirt DaemonSet of a DataCenter in `agent.libvirt: pod` mode (manifest builder).

One privileged pod per host runs virtlogd, libvirtd and, as their children, the QEMU
processes of the host's guests (`kovirt-libvirtd`, under tini). It is the only privileged
kovirt pod and changes rarely; its `updateStrategy` is OnDelete, so an image or template
change never restarts guests by itself: an operator drains the host (or accepts the
restart) and deletes the pod. The agent DaemonSet beside it rolls freely.

Host network: QEMU reaches Ceph's monitors and OSDs as the host does, and migration and
bridged guest networks use the host's addresses.
"""

from __future__ import annotations

from typing import Any

from kovirt.api.v1alpha1 import DataCenter
from kovirt.operator import agents

SOCKET = "/run/libvirt/libvirt-sock"


def daemonset(dc: DataCenter, namespace: str) -> dict[str, Any]:
    name = agents.resource_names(dc.metadata.name)["libvirt"]
    labels = agents.agent_labels(dc.metadata.name, component="libvirt")
    volumes, mounts = agents.host_folders(dc)
    container = {
        "name": "libvirt",
        **agents.image_of(dc),
        # tini as PID 1: libvirtd must not be PID 1 (its QEMU probe children would stay
        # zombies and `virsh create` would hang).
        "command": ["/usr/bin/tini", "--", "kovirt-libvirtd"],
        "env": [
            agents.node_name_env(),
            {"name": "KOVIRT_HYPERVISOR", "value": str(dc.spec.hosts.hypervisor)},
            {"name": "KOVIRT_STATE_DIR", "value": agents.AGENT_STATE_DIR},
        ],
        "securityContext": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
        "volumeMounts": mounts,
        "readinessProbe": {
            "exec": {"command": ["test", "-S", SOCKET]},
            "periodSeconds": 2,
        },
    }
    pod_spec: dict[str, Any] = {
        # libvirtd needs no Kubernetes API.
        "automountServiceAccountToken": False,
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        # Long enough for libvirtd to save its state; guests end with the container.
        "terminationGracePeriodSeconds": 30,
        **agents.pod_placement(dc),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": agents.metadata(dc, name, namespace, component="libvirt"),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "OnDelete"},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
