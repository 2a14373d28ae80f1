"""A hypervisor host dies and comes back (nodes mode): the node's kubelet, containerd and
pods go at once, as in a crash. The operator marks the kovirt Host NotReady once its agent's
Lease is stale, `kovirt status` shows the Node NotReady, and after the node starts again
its agent and libvirt pods come back and the Host is Ready."""

from __future__ import annotations

import pytest
import yaml

from kovirt.localstack.stack import OPERATOR_NAMESPACE

pytestmark = pytest.mark.nodes_only

DC = "e2e-hosts"


def host_phase(e2e, host: str) -> str:
    return e2e.jsonpath("host", host, ".status.phase")


def test_a_dead_node_makes_its_host_not_ready_and_a_restarted_one_ready(e2e):
    stack = e2e.stack
    dc = {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "DataCenter",
        "metadata": {"name": DC},
        "spec": {"ceph": {"secretRef": {"name": "ceph-admin", "namespace": OPERATOR_NAMESPACE}}},
    }
    e2e.kubectl("apply", "-f", "-", input=yaml.safe_dump(dc))
    stopped = None
    try:
        for host in e2e.hosts:
            e2e.wait(f"Host {host} Ready", lambda h=host: host_phase(e2e, h) == "Ready", 180)
        # Not the operator's node: a dead operator would judge nothing.
        operator_node = e2e.kubectl(
            "get", "pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=operator",
            "-o", "jsonpath={.items[0].spec.nodeName}",
        )  # fmt: skip
        victim = next(host for host in e2e.hosts if host != operator_node)
        stack.node_stack.stop_node(victim)
        stopped = victim
        e2e.wait(f"Host {victim} NotReady", lambda: host_phase(e2e, victim) == "NotReady", 180)
        conditions = e2e.get("host", victim)["status"]["conditions"]
        ready = next(c for c in conditions if c["type"] == "Ready")
        assert ready["reason"] == "HeartbeatLost", ready
        e2e.wait(
            f"kovirt status to show {victim} NotReady",
            lambda: dict(stack.status()).get(victim, "").startswith("NotReady"),
            120,
        )
        stack.node_stack.start_node(victim)
        stopped = None
        e2e.wait(f"Host {victim} Ready again", lambda: host_phase(e2e, victim) == "Ready", 240)
    finally:
        if stopped:
            stack.node_stack.start_node(stopped)
        e2e.kubectl("delete", "dc", DC, "--wait=true", "--timeout=120s", check=False)
        for host in e2e.hosts:
            e2e.kubectl("delete", "host", host, "--ignore-not-found", "--wait=false", check=False)
