"""The agent's Host Lease belongs to its Host: deleting the Host garbage-collects the Lease.

Runs the agent's own registration calls (ensure_host, then renew_lease, in the order
Agent.start makes them) against the real API server, whose kube-controller-manager runs
the garbage collector; no libvirt or Ceph is needed for this part of the agent.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.localstack.process import wait_until
from kovirt.node_agent.config import AgentConfig
from kovirt.node_agent.host import ensure_host
from kovirt.node_agent.kube import Kube

pytestmark = pytest.mark.controlplane


def agent_config(namespace: str) -> AgentConfig:
    return AgentConfig(
        host_name=f"lease-{uuid.uuid4().hex[:6]}",
        data_center="local",
        ceph_monitors="127.0.0.1:3300",
        ceph_user="kovirt-agent-local",
        ceph_key="unused",
        namespace=namespace,
        lease_duration_s=8,
    )


def read_lease(controlplane, config: AgentConfig) -> k8s.V1Lease | None:
    api = k8s.CoordinationV1Api(controlplane.api_client)
    try:
        return api.read_namespaced_lease(config.lease_name, config.namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def delete_host_and_see_its_lease_collected(controlplane, config: AgentConfig) -> None:
    k8s.CustomObjectsApi(controlplane.api_client).delete_cluster_custom_object(
        GROUP, VERSION, "hosts", config.host_name
    )
    wait_until(
        lambda: not read_lease(controlplane, config),
        60,
        interval_s=0.25,
        what="the garbage collector to delete the Lease",
    )


def register(kube: Kube, config: AgentConfig) -> dict:
    host = ensure_host(kube, config)
    kube.renew_lease(config.namespace, config.lease_name, config.host_name, 8)
    return host


def test_the_lease_is_owned_by_its_host_and_goes_when_the_host_is_deleted(
    controlplane, kube_namespace
):
    kube, config = Kube(controlplane.api_client), agent_config(kube_namespace)
    host = register(kube, config)
    kube.renew_lease(config.namespace, config.lease_name, config.host_name, 8)  # a renewal

    owners = read_lease(controlplane, config).metadata.owner_references
    assert [(o.api_version, o.kind, o.name, o.uid) for o in owners] == [
        (f"{GROUP}/{VERSION}", "Host", config.host_name, host["metadata"]["uid"])
    ]

    delete_host_and_see_its_lease_collected(controlplane, config)


def test_a_lease_made_without_an_owner_is_adopted_when_the_agent_registers(
    controlplane, kube_namespace
):
    # What an agent before owner references left behind: a Lease nothing would ever remove.
    kube, config = Kube(controlplane.api_client), agent_config(kube_namespace)
    k8s.CoordinationV1Api(controlplane.api_client).create_namespaced_lease(
        config.namespace,
        {"metadata": {"name": config.lease_name}, "spec": {"holderIdentity": config.host_name}},
    )

    host = register(kube, config)

    owners = read_lease(controlplane, config).metadata.owner_references
    assert [o.uid for o in owners] == [host["metadata"]["uid"]]
    delete_host_and_see_its_lease_collected(controlplane, config)


def test_a_renewal_after_the_host_was_deleted_makes_no_ownerless_lease(
    controlplane, kube_namespace
):
    kube, config = Kube(controlplane.api_client), agent_config(kube_namespace)
    register(kube, config)
    delete_host_and_see_its_lease_collected(controlplane, config)

    # The agent's lease loop keeps renewing; it must not bring back an orphan.
    with pytest.raises(LookupError, match=config.host_name):
        kube.renew_lease(config.namespace, config.lease_name, config.host_name, 8)
    assert read_lease(controlplane, config) is None
