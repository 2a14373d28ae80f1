"""The local control plane against itself: lifecycle, and controllers acting as in a cluster."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client as k8s_client

from kovirt.localstack import binaries
from kovirt.localstack.controlplane import (
    APISERVER_ADDRESS_GONE_STOP_TIMEOUT_S,
    ControlPlane,
    address_is_local,
)

pytestmark = pytest.mark.controlplane

WARM_START_GOAL_S = 15.0


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (an exited child not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


# -- lifecycle, on a plane of its own (the session's plane stays untouched) ----------------


def test_up_is_idempotent_and_down_leaves_no_process_and_no_listening_port(tmp_path: Path):
    plane = ControlPlane(tmp_path / "cp", echo=lambda _: None)
    first = plane.up()
    try:
        again = plane.up()
        status = plane.status()
        ports = json.loads((tmp_path / "cp" / "ports.json").read_text())
        pids = [c.pid for c in status.components if c.pid]
    finally:
        stopped = plane.down()

    assert first.started and not again.started
    assert again.server == first.server
    assert status.ready
    assert {c.name for c in status.components if c.pid} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
    }
    # Clients before the API server, the API server before etcd.
    assert stopped == ["kube-controller-manager", "kube-apiserver", "etcd"]
    # Each exited on SIGTERM; none sat out its timeout to be killed (the API server did
    # when etcd or its own address was gone first: 20 s).
    assert {name: how.killed for name, how in plane.last_stop.items()} == dict.fromkeys(
        stopped, False
    )
    alive = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids if _pid_alive(pid)}
    assert alive == {}
    assert [port for port in ports.values() if _listening(port)] == []
    assert not plane.status().running


def test_warm_start_is_printed_and_reaches_readyz_within_the_goal(tmp_path: Path):
    messages: list[str] = []
    plane = ControlPlane(tmp_path / "cp", echo=messages.append)
    try:
        plane.up()
        plane.down()
        # Warm: binaries cached, certificates and etcd data from the first start.
        result = plane.up()
        status_ready = plane.status().ready
    finally:
        plane.down()

    assert status_ready
    printed = [m for m in messages if m.startswith("control plane ready in")]
    assert len(printed) == 2, messages
    sys.stderr.write(f"\nwarm start of the control plane: {result.ready_s:.1f}s to /readyz\n")
    assert result.ready_s < WARM_START_GOAL_S


def test_up_moves_to_new_ports_when_a_saved_one_is_taken(tmp_path: Path):
    plane = ControlPlane(tmp_path / "cp", echo=lambda _: None)
    ports_file = tmp_path / "cp" / "ports.json"
    plane.up()
    plane.down()
    old = json.loads(ports_file.read_text())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", old["apiserver"]))
        squatter.listen()
        try:
            result = plane.up()
            ready = plane.status().ready
        finally:
            plane.down()
    new = json.loads(ports_file.read_text())
    assert ready
    assert new["apiserver"] != old["apiserver"]
    assert result.server == f"https://127.0.0.1:{new['apiserver']}"
    # The kubeconfig follows the move.
    assert result.server in (tmp_path / "cp" / "kubeconfig").read_text()


def test_down_on_a_plane_that_never_ran_stops_nothing(tmp_path: Path):
    assert ControlPlane(tmp_path / "cp", echo=lambda _: None).down() == []


def test_an_address_is_local_only_while_an_interface_holds_it():
    assert address_is_local("127.0.0.1")
    assert not address_is_local("198.51.100.77")  # TEST-NET-2, on no interface here


@contextlib.contextmanager
def _bridge_with(address: str):
    """A bridge of this test's own holding address (deleted on exit if still there)."""
    name = f"kvcp{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def test_a_plane_whose_address_vanished_stops_in_seconds_not_twenty(tmp_path: Path):
    # What `kovirt nodes down` did: the bridge holding the plane's address went first, so
    # the API server's endpoint-removal hook, calling itself there, could only time out.
    address = "10.215.0.1"
    messages: list[str] = []
    plane = ControlPlane(tmp_path / "cp", echo=messages.append, bind_address=address)
    with _bridge_with(address) as bridge:
        try:
            assert plane.up().server.startswith(f"https://{address}:")
            subprocess.run(["ip", "link", "delete", bridge], check=True)
        finally:
            stopped = plane.down()
    assert stopped == ["kube-controller-manager", "kube-apiserver", "etcd"]
    apiserver = plane.last_stop["kube-apiserver"]
    assert apiserver.seconds < APISERVER_ADDRESS_GONE_STOP_TIMEOUT_S + 2, apiserver
    assert any(f"address {address} is no longer on this machine" in m for m in messages)
    assert not plane.last_stop["etcd"].killed


# -- controllers, on the session's plane ---------------------------------------------------


def test_deleting_an_owner_garbage_collects_its_owner_referenced_configmap(
    controlplane, kube_namespace
):
    core = k8s_client.CoreV1Api(controlplane.api_client)
    owner = core.create_namespaced_config_map(
        kube_namespace, {"metadata": {"name": "owner"}, "data": {"role": "owner"}}
    )
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    core.create_namespaced_config_map(
        kube_namespace, {"metadata": {"name": "dependent", "ownerReferences": [reference]}}
    )

    core.delete_namespaced_config_map("owner", kube_namespace)

    def dependent_gone() -> bool:
        names = [cm.metadata.name for cm in core.list_namespaced_config_map(kube_namespace).items]
        return "dependent" not in names

    _wait_for(dependent_gone, 60, "the garbage collector to delete the dependent ConfigMap")


DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      hostNetwork: true
      containers:
        - name: agent
          image: kovirt:0.1.0
          imagePullPolicy: IfNotPresent
          securityContext: {privileged: true}
          volumeMounts: [{name: dev-kvm, mountPath: /dev/kvm}]
      volumes:
        - name: dev-kvm
          hostPath: {path: /dev/kvm, type: CharDevice}
"""


def test_a_privileged_daemonset_is_accepted_and_observed_by_its_controller(
    controlplane, kube_namespace
):
    controlplane.kubectl("apply", "-n", kube_namespace, "-f", "-", input=DAEMONSET)
    apps = k8s_client.AppsV1Api(controlplane.api_client)

    def observed():
        status = apps.read_namespaced_daemon_set_status("agent", kube_namespace).status
        return status if status.observed_generation == 1 else None

    status = _wait_for(observed, 60, "the DaemonSet controller to observe the DaemonSet")
    # No kubelet runs yet, so there is no node to schedule on.
    assert status.desired_number_scheduled == 0


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: operator
spec:
  replicas: 1
  selector:
    matchLabels: {app: operator}
  template:
    metadata:
      labels: {app: operator}
    spec:
      containers:
        - name: operator
          image: kovirt:0.1.0
          imagePullPolicy: IfNotPresent
"""


def test_a_deployment_gets_a_replicaset_which_creates_its_pod(controlplane, kube_namespace):
    controlplane.kubectl("apply", "-n", kube_namespace, "-f", "-", input=DEPLOYMENT)
    core = k8s_client.CoreV1Api(controlplane.api_client)

    def pod_owned_by_a_replicaset():
        pods = core.list_namespaced_pod(kube_namespace, label_selector="app=operator").items
        return [p for p in pods if p.metadata.owner_references[0].kind == "ReplicaSet"]

    pods = _wait_for(pod_owned_by_a_replicaset, 60, "the Deployment's pod")
    # A pod that the service-account admission accepted: the namespace's default
    # service account was made by the controller manager.
    assert pods[0].spec.service_account_name == "default"


def test_deleting_a_namespace_removes_its_objects(controlplane):
    controlplane.kubectl("create", "namespace", "t-doomed")
    controlplane.kubectl("-n", "t-doomed", "create", "configmap", "victim")
    controlplane.kubectl("delete", "namespace", "t-doomed", "--timeout=60s")
    result = controlplane.kubectl("get", "namespace", "t-doomed", check=False)
    assert "NotFound" in result.stderr


def test_the_env_command_puts_the_pinned_kubectl_first_on_path(controlplane):
    exports = subprocess.run(
        [sys.executable, "-m", "kovirt.cli.main", "controlplane", "env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shell = f"{exports}\nkubectl version -o json"
    versions = json.loads(
        subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True).stdout
    )
    pinned = binaries.kubernetes().version
    assert versions["clientVersion"]["gitVersion"] == pinned
    assert versions["serverVersion"]["gitVersion"] == pinned


def test_the_status_command_says_ready_and_exits_zero(controlplane):
    result = subprocess.run(
        [sys.executable, "-m", "kovirt.cli.main", "controlplane", "status"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready                    yes" in result.stdout


def test_deleting_a_kovirt_resource_garbage_collects_what_it_owns(controlplane, kube_namespace):
    # Owner references to a custom resource need the garbage collector to watch the new
    # kind; the fixture restarts the controller manager after installing CRDs for this.
    name = f"gc-{kube_namespace}"
    data_center = {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "DataCenter",
        "metadata": {"name": name},
        "spec": {"ceph": {"secretRef": {"name": "ceph-admin"}}},
    }
    controlplane.kubectl("apply", "-f", "-", input=json.dumps(data_center))
    uid = controlplane.kubectl(
        "get", "datacenter.kovirt.io", name, "-o", "jsonpath={.metadata.uid}"
    ).stdout
    core = k8s_client.CoreV1Api(controlplane.api_client)
    reference = {"apiVersion": "kovirt.io/v1alpha1", "kind": "DataCenter", "name": name, "uid": uid}
    core.create_namespaced_config_map(
        kube_namespace, {"metadata": {"name": "ceph-conf", "ownerReferences": [reference]}}
    )

    controlplane.kubectl("delete", "datacenter.kovirt.io", name)

    def config_map_gone() -> bool:
        return not core.list_namespaced_config_map(
            kube_namespace, field_selector="metadata.name=ceph-conf"
        ).items

    _wait_for(config_map_gone, 60, "the garbage collector to delete the DataCenter's ConfigMap")
