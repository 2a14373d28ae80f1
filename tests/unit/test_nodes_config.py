"""The local nodes' plan and configuration files, checked without starting anything."""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path

import yaml

from kovirt.localstack import node_config, node_host, node_net
from kovirt.localstack.certs import SERVICE_CIDR
from kovirt.localstack.node_config import NodeFiles


def two_nodes(tmp_path: Path) -> node_net.NetworkPlan:
    return node_net.plan(tmp_path, 2)


def test_link_and_namespace_names_fit_the_kernels_fifteen_characters(tmp_path):
    net = node_net.plan(tmp_path, 12)
    for name in [net.bridge, *(n.host_veth for n in net.nodes)]:
        assert len(name) <= 15, name


def test_two_state_folders_get_different_names(tmp_path):
    one, other = node_net.plan(tmp_path / "a", 1), node_net.plan(tmp_path / "b", 1)
    assert one.bridge != other.bridge
    assert one.nodes[0].netns != other.nodes[0].netns


def test_every_node_has_its_own_address_and_pod_subnet_apart_from_services(tmp_path):
    nodes = node_net.plan(tmp_path, 3).nodes
    assert len({n.ip for n in nodes}) == 3
    subnets = [ipaddress.ip_network(n.pod_cidr) for n in nodes]
    assert len(set(subnets)) == 3
    services = ipaddress.ip_network(SERVICE_CIDR)
    for subnet in subnets:
        assert subnet.subnet_of(node_net.CLUSTER_CIDR)
        assert not subnet.overlaps(services)
        assert not subnet.overlaps(node_net.BRIDGE_SUBNET)
    assert all(ipaddress.ip_address(n.ip) in node_net.BRIDGE_SUBNET for n in nodes)


def test_a_node_count_out_of_range_is_refused(tmp_path):
    for count in (0, 201):
        try:
            node_net.plan(tmp_path, count)
        except node_net.KovirtError:
            continue
        raise AssertionError(f"{count} nodes accepted")


def test_containerd_keeps_everything_in_the_nodes_folder_and_may_not_lower_oom_scores(tmp_path):
    files = NodeFiles(tmp_path / "kv-node-1")
    config = tomllib.loads(node_config.containerd_toml(files, "kovirt.local/pause:abc"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "kovirt.local/pause:abc"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["cni"]["conf_dir"] == str(files.cni_conf_dir)
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    for path in (config["root"], config["state"], config["grpc"]["address"], runc["Root"]):
        assert Path(path).is_relative_to(files.root), path


def test_the_cni_network_is_named_per_node_and_uses_the_nodes_pod_subnet(tmp_path):
    node = two_nodes(tmp_path).nodes[1]
    files = NodeFiles(tmp_path / node.name)
    conflist = json.loads(node_config.cni_conflist(files, node))
    bridge = conflist["plugins"][0]
    assert conflist["name"] == f"kovirt-{node.name}"
    assert bridge["ipam"]["ranges"][0][0]["subnet"] == node.pod_cidr
    assert bridge["ipam"]["dataDir"] == str(files.cni_ipam_dir)
    assert bridge["ipMasq"] is False


def test_the_kubelet_runs_with_cgroupfs_on_cgroup_v1_under_its_own_root(tmp_path):
    node = two_nodes(tmp_path).nodes[0]
    files = NodeFiles(tmp_path / node.name)
    config = yaml.safe_load(
        node_config.kubelet_config(files, node, "/kovirt-x-node1", tmp_path / "ca.crt")
    )
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["cgroupRoot"] == "/kovirt-x-node1"
    assert config["podLogsDir"] == str(files.pod_logs)
    assert config["address"] == node.ip
    assert config["authentication"]["anonymous"]["enabled"] is False


def test_kube_proxy_leaves_the_hosts_conntrack_settings_alone(tmp_path):
    node = two_nodes(tmp_path).nodes[0]
    config = yaml.safe_load(node_config.kube_proxy_config(NodeFiles(tmp_path), node))
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["hostnameOverride"] == node.name
    assert config["mode"] == "iptables"


def test_mounts_below_a_folder_are_listed_deepest_first(tmp_path, monkeypatch):
    root = tmp_path.resolve()
    lines = [
        f"1 0 0:1 / {root}/a rw - tmpfs tmpfs rw",
        f"2 0 0:1 / {root}/a/b\\040c rw - tmpfs tmpfs rw",
        f"3 0 0:1 / {root}-other rw - tmpfs tmpfs rw",
        "4 0 0:1 / / rw - ext4 /dev/vda rw",
    ]
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("\n".join(lines) + "\n")
    original = Path.read_text

    def fake_read(self, *args, **kwargs):
        if str(self) == "/proc/self/mountinfo":
            return original(mountinfo)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", fake_read)
    assert node_host.mounts_under(root) == [root / "a" / "b c", root / "a"]


def test_the_nodes_control_plane_runs_the_node_lifecycle_controller_and_the_rest():
    from kovirt.localstack.controlplane import CONTROLLERS
    from kovirt.localstack.nodes import NODE_CONTROLLERS

    assert "-nodelifecycle" in CONTROLLERS
    assert "-nodelifecycle" not in NODE_CONTROLLERS
    assert NODE_CONTROLLERS.split(",") == [
        c for c in CONTROLLERS.split(",") if c != "-nodelifecycle"
    ]


def test_the_nodes_api_server_listens_on_the_bridge_and_presents_a_kubelet_client_cert(
    tmp_path,
):
    from kovirt.localstack.binaries import binaries
    from kovirt.localstack.certs import CertFiles
    from kovirt.localstack.controlplane import Ports
    from kovirt.localstack.nodes import NodeStack

    stack = NodeStack(2, root=tmp_path, echo=lambda _: None)
    plane = stack.plane
    argv = plane._apiserver_argv(binaries(), Ports(1, 2, 3), CertFiles(tmp_path))
    host = stack.net.host_ip
    assert f"--bind-address={host}" in argv and f"--advertise-address={host}" in argv
    assert "--kubelet-preferred-address-types=InternalIP" in argv
    assert any(arg.startswith("--kubelet-client-certificate=") for arg in argv)
    assert plane._url(Ports(1, 2, 3)) == f"https://{host}:3"
    manager = plane._controller_manager_argv(binaries())
    assert "--node-monitor-grace-period=30s" in manager


def test_the_default_control_plane_is_unchanged_by_the_node_options(tmp_path):
    from kovirt.localstack.binaries import binaries
    from kovirt.localstack.certs import CertFiles
    from kovirt.localstack.controlplane import CONTROLLERS, ControlPlane, Ports

    plane = ControlPlane(tmp_path, echo=lambda _: None)
    argv = plane._apiserver_argv(binaries(), Ports(1, 2, 3), CertFiles(tmp_path))
    assert "--bind-address=127.0.0.1" in argv
    assert not [arg for arg in argv if arg.startswith("--kubelet-")]
    manager = plane._controller_manager_argv(binaries())
    assert f"--controllers={CONTROLLERS}" in manager
    assert not [arg for arg in manager if arg.startswith("--node-monitor")]
