"""Real nodes: two kubelets Ready, pods on each from images built without Docker, logs and
exec through the API server, the `kubernetes` Service reachable from pods, and a `down`
that leaves nothing behind. The tests run in order and share one stack (module fixture);
the last one takes it down."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kovirt.localstack import binaries, node_host, tools
from kovirt.localstack.nodes import NODE_GRACE_S
from kovirt.localstack.paths import repo_root
from tests.fixtures.nodes import LocalNodes

pytestmark = pytest.mark.controlplane

POD_READY_TIMEOUT = "180s"
# The test pods' namespace, deleted at the end: the plane's data outlives `down`.
CRI_NETNS = "io.containerd.grpc.v1.cri/netns"
NAMESPACE = f"nodes-test-{uuid.uuid4().hex[:6]}"
CHART = repo_root() / "charts" / "kovirt"


def pod_manifest(name: str, node: str, image: str, command: list[str]) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}
            ],
        },
    }
    return json.dumps(pod)


def run_pod(nodes: LocalNodes, node: str, command: list[str]) -> str:
    name = f"t-{uuid.uuid4().hex[:6]}"
    manifest = pod_manifest(name, node, nodes.images.kovirt.ref, command)
    nodes.kubectl("apply", "-f", "-", input=manifest)
    return name


def wait_phase(nodes: LocalNodes, name: str, phases: set[str], timeout_s: float = 180) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        jsonpath = "jsonpath={.status.phase}"
        phase = nodes.kubectl("get", "pod", name, "-n", NAMESPACE, "-o", jsonpath).stdout
        if phase in phases:
            return phase
        if time.monotonic() > deadline:
            described = nodes.kubectl("describe", "pod", name, "-n", NAMESPACE, check=False).stdout
            raise AssertionError(f"pod {name} is {phase!r}, not {phases}:\n{described}")
        time.sleep(0.5)


def wait_for_log(nodes: LocalNodes, namespace: str, target: str, line: str, timeout_s=60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        logs = nodes.kubectl("logs", "-n", namespace, target, check=False).stdout
        if line in logs:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{target} never logged {line!r}; its log:\n{logs}")
        time.sleep(0.5)


@pytest.fixture(scope="module", autouse=True)
def pods_namespace(local_nodes: LocalNodes):
    local_nodes.kubectl("create", "namespace", NAMESPACE)
    yield NAMESPACE
    local_nodes.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_two_nodes_register_and_become_ready(local_nodes: LocalNodes):
    nodes = json.loads(local_nodes.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["kv-node-1", "kv-node-2"]
    assert all(status.ready for status in local_nodes.stack.status())
    print(f"nodes up in {local_nodes.up_s:.0f}s")


def test_the_kovirt_image_imports_the_ceph_and_libvirt_bindings_on_every_node(
    local_nodes: LocalNodes,
):
    probe = ["python", "-c", "import rados, rbd, libvirt, kovirt; print('imports ok')"]
    names = [run_pod(local_nodes, n.name, probe) for n in local_nodes.stack.net.nodes]
    for name in names:
        assert wait_phase(local_nodes, name, {"Succeeded", "Failed"}) == "Succeeded"
        # `kubectl logs` goes API server -> kubelet: the kubelet client certificate works.
        assert local_nodes.kubectl("logs", name, "-n", NAMESPACE).stdout.strip() == "imports ok"


def test_exec_runs_a_command_inside_a_pod(local_nodes: LocalNodes):
    name = run_pod(local_nodes, "kv-node-2", ["sleep", "300"])
    wait_phase(local_nodes, name, {"Running"})
    done = local_nodes.kubectl("exec", name, "-n", NAMESPACE, "--", "id", "-u")
    assert done.stdout.strip() == "10001"  # the image's unprivileged user
    local_nodes.kubectl("delete", "pod", name, "-n", NAMESPACE, "--wait=false")


def test_pods_reach_the_api_server_through_the_kubernetes_service(local_nodes: LocalNodes):
    token = "/var/run/secrets/kubernetes.io/serviceaccount"
    command = [
        "sh",
        "-c",
        f'curl -sS --max-time 10 --cacert {token}/ca.crt -H "Authorization: Bearer '
        f'$(cat {token}/token)" https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version',
    ]
    names = [run_pod(local_nodes, n.name, command) for n in local_nodes.stack.net.nodes]
    for name in names:
        phase = wait_phase(local_nodes, name, {"Succeeded", "Failed"})
        logs = local_nodes.kubectl("logs", name, "-n", NAMESPACE).stdout
        assert phase == "Succeeded", logs
        assert json.loads(logs)["gitVersion"].startswith("v1.")


def test_pods_reach_each_other_across_nodes_and_port_forward_reaches_a_pod(
    local_nodes: LocalNodes,
):
    server = run_pod(local_nodes, "kv-node-1", ["python3", "-m", "http.server", "8080"])
    wait_phase(local_nodes, server, {"Running"})
    jsonpath = "jsonpath={.status.podIP}"
    ip = local_nodes.kubectl("get", "pod", server, "-n", NAMESPACE, "-o", jsonpath).stdout
    client = run_pod(
        local_nodes, "kv-node-2", ["sh", "-c", f"curl -sS --retry 5 http://{ip}:8080/"]
    )
    phase = wait_phase(local_nodes, client, {"Succeeded", "Failed"})
    logs = local_nodes.kubectl("logs", client, "-n", NAMESPACE).stdout
    assert phase == "Succeeded" and "Directory listing" in logs, logs
    with port_forward(local_nodes, server, 8080) as local_port:
        page = urllib.request.urlopen(f"http://127.0.0.1:{local_port}/", timeout=10).read()
    assert b"Directory listing" in page


@contextlib.contextmanager
def port_forward(nodes: LocalNodes, pod: str, port: int) -> Iterator[int]:
    """`kubectl port-forward` to a free local port; yields that port once it forwards."""
    argv = [str(binaries.binaries().kubectl), f"--kubeconfig={nodes.stack.kubeconfig}"]
    argv += ["port-forward", "-n", NAMESPACE, f"pod/{pod}", f":{port}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"port-forward said: {line}"
        yield int(match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def node_ready(nodes: LocalNodes, name: str) -> str:
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    return nodes.kubectl("get", "node", name, "-o", f"jsonpath={jsonpath}").stdout


def wait_node(nodes: LocalNodes, name: str, status: str, timeout_s: float) -> float:
    started = time.monotonic()
    while node_ready(nodes, name) != status:
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{name} Ready is {node_ready(nodes, name)!r}, not {status!r}")
        time.sleep(1)
    return time.monotonic() - started


def test_a_stopped_node_turns_not_ready_and_comes_back_ready_with_its_pod(
    local_nodes: LocalNodes,
):
    pod = f"t-{uuid.uuid4().hex[:6]}"
    manifest = json.loads(pod_manifest(pod, "kv-node-2", local_nodes.images.kovirt.ref, []))
    manifest["spec"]["restartPolicy"] = "Always"
    manifest["spec"]["containers"][0]["command"] = ["sleep", "3600"]
    local_nodes.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    wait_phase(local_nodes, pod, {"Running"})
    local_nodes.stack.stop_node("kv-node-2")
    not_ready_s = wait_node(local_nodes, "kv-node-2", "Unknown", NODE_GRACE_S + 30)
    assert {s.name: s.ready for s in local_nodes.stack.status()}["kv-node-2"] is False
    local_nodes.stack.start_node("kv-node-2")
    ready_s = wait_node(local_nodes, "kv-node-2", "True", 60)
    # The pod object kept saying Running; the proof is a container that answers again.
    deadline = time.monotonic() + 60
    while local_nodes.kubectl("exec", pod, "-n", NAMESPACE, "--", "true", check=False).returncode:
        assert time.monotonic() < deadline, "the pod did not come back on the restarted node"
        time.sleep(1)
    print(f"NotReady {not_ready_s:.0f}s after the stop, Ready {ready_s:.0f}s after the start")


def test_the_chart_runs_the_operator_as_its_deployment_with_the_local_values(
    local_nodes: LocalNodes,
):
    # Unique names: ClusterRoles are cluster-wide and the plane's data outlives `down`.
    suffix = uuid.uuid4().hex[:6]
    # A release name holding "kovirt" is the chart's full name: objects are <release>-*.
    release = namespace = f"kovirt-{suffix}"
    helm = [str(tools.helm()), f"--kubeconfig={local_nodes.stack.kubeconfig}"]
    values = ["-f", str(CHART / "values-local.yaml")]
    install = [*helm, "install", release, str(CHART), "-n", namespace, "--create-namespace"]
    done = subprocess.run([*install, *values], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rollout = ["rollout", "status", f"deploy/{release}-operator", "-n", namespace]
    local_nodes.kubectl(*rollout, f"--timeout={POD_READY_TIMEOUT}")
    wait_for_log(local_nodes, namespace, f"deploy/{release}-operator", "operator configured")
    subprocess.run([*helm, "uninstall", release, "-n", namespace, "--wait"], check=True)
    wait_until_gone(local_nodes, namespace)


def wait_until_gone(nodes: LocalNodes, namespace: str, timeout_s: float = 60) -> None:
    """The Deployment goes with the release; its pods follow through the garbage collector."""
    deadline = time.monotonic() + timeout_s
    while left := nodes.kubectl("get", "deploy,rs,pods", "-n", namespace, "-o", "name").stdout:
        if time.monotonic() > deadline:
            raise AssertionError(f"left after uninstall: {left}")
        time.sleep(0.5)


def test_down_leaves_no_process_mount_namespace_link_route_or_cgroup(local_nodes: LocalNodes):
    stack = local_nodes.stack
    pod_netns_before = [
        path
        for node in stack.net.nodes
        for path in (stack.files(node).containerd_state / CRI_NETNS).glob("cni-*")
    ]
    assert pod_netns_before, "pods' network namespaces live under the nodes' folders"
    local_nodes.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
    stack.down()
    assert stack.leftovers() == []
    assert [m for m in node_host.mounts_under(stack.root)] == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"kv{stack.net.stack_id}" not in links and stack.net.bridge not in links
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"kovirt-{stack.net.stack_id}" not in netns
    listening = subprocess.run(["ss", "-H", "-ltn"], capture_output=True, text=True).stdout
    assert f"{stack.net.host_ip}:" not in listening  # API server, etc. on the bridge: gone
    for node in stack.net.nodes:
        assert not node_host.cgroup_exists(stack.cgroup(node))
        socket = str(stack.files(node).containerd_socket).encode()
        for proc in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                assert socket not in proc.read_bytes(), proc
            except FileNotFoundError:
                continue
