"""Configuration files of one local node: containerd, its CNI network, kubelet, kube-proxy.

Everything a node writes lives in its own folder (``<state>/nodes/<node>/``), so two nodes
on one machine never share a socket, a data folder, a log folder or a cgroup, and `down`
finds all of it there. The choices that are not defaults say why below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from kovirt.localstack.node_net import CLUSTER_CIDR, NodeAddress

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins


@dataclass(frozen=True)
class NodeFiles:
    """Where one node keeps what it writes."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        # Kept across down/up: image content, so a warm `up` need not import again.
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def proxy_config(self) -> Path:
        return self.root / "kube-proxy-config.yaml"

    @property
    def proxy_kubeconfig(self) -> Path:
        return self.root / "kube-proxy.kubeconfig"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    def runtime_folders(self) -> tuple[Path, ...]:
        """What `down` deletes (after unmounting): everything but the image store."""
        return (self.containerd_state, self.kubelet_root, self.cni_ipam_dir, self.pod_logs)


def containerd_toml(files: NodeFiles, pause_ref: str) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{files.containerd_root}"',
            f'state = "{files.containerd_state}"',
            "[grpc]",
            f'  address = "{files.containerd_socket}"',
            "[ttrpc]",
            f'  address = "{files.containerd_socket}.ttrpc"',
            "[debug]",
            '  address = ""',
            "[metrics]",
            '  address = ""',
            f"[{cri}]",
            # Nothing can be pulled here: the pause image is built and imported locally.
            f'  sandbox_image = "{pause_ref}"',
            # The sandbox may not lower oom_score_adj in this environment; without this
            # runc fails with "can't get final child's PID from pipe" (DESIGN.md §4).
            "  restrict_oom_score_adj = true",
            # Pods' network namespaces under the node's state folder, not /run/netns, so
            # `down` finds exactly this node's.
            "  netns_mounts_under_state_dir = true",
            "  enable_selinux = false",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            # runc's own state per node (the default /run/containerd/runc is shared).
            f'  Root = "{files.containerd_state / "runc"}"',
            f"[{cri}.cni]",
            f'  bin_dir = "{CNI_BIN_DIR}"',
            f'  conf_dir = "{files.cni_conf_dir}"',
            "  max_conf_num = 1",
            "",
        ]
    )


def cni_conflist(files: NodeFiles, node: NodeAddress) -> str:
    config = {
        "cniVersion": "0.4.0",
        "name": f"kovirt-{node.name}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                # No masquerade: the other nodes and the host route the pod subnets back.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": node.cni_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(files.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(files: NodeFiles, node: NodeAddress, cgroup_root: str, ca_file: Path) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # These machines are cgroup v1 hybrid and PID 1 is not systemd (DESIGN.md §4).
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "cgroupRoot": cgroup_root,
        "podLogsDir": str(files.pod_logs),
        "containerRuntimeEndpoint": f"unix://{files.containerd_socket}",
        "address": node.ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "authentication": {
            "x509": {"clientCAFile": str(ca_file)},
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
        },
        # Only holders of a certificate from the stack's CA get past authentication.
        "authorization": {"mode": "AlwaysAllow"},
        "resolvConf": str(files.resolv_conf),
        "failSwapOn": False,
        # One disk shared by everything on this machine: never evict or collect images
        # (the images cannot be pulled back).
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(files: NodeFiles, node: NodeAddress) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(files.proxy_kubeconfig)},
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "clusterCIDR": str(CLUSTER_CIDR),
        "mode": "iptables",
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        # Leave the host's conntrack sysctls alone (0 = do not set).
        "conntrack": {
            "maxPerCore": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False},
    }
    return yaml.safe_dump(config, sort_keys=False)
