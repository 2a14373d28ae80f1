"""The local nodes' network: a host bridge, one network namespace per node, routes.

Every name and address here belongs to the stack (derived from its state folder), so
`down` removes exactly what `up` made and two stacks in different state folders never
share a link name. Nothing is routed off the machine: the nodes have no default route,
only the bridge subnet, the pod subnets of the other nodes (via their node) and the
service range (via the host, where the API server listens).

    host: bridge kvb-<id> 10.213.0.1/24, a route per pod subnet via its node
    node i: netns kovirt-<id>-node<i>, eth0 10.213.0.(10+i), pods 10.214.<i>.0/24
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import KovirtError

BRIDGE_SUBNET = ipaddress.ip_network("10.213.0.0/24")
CLUSTER_CIDR = ipaddress.ip_network("10.214.0.0/16")
FIRST_NODE_HOST = 10
NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True)
class NodeAddress:
    """One node's names and addresses."""

    index: int
    name: str  # the Kubernetes Node name
    netns: str
    host_veth: str
    ip: str
    pod_cidr: str

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    @property
    def cni_gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))


@dataclass(frozen=True)
class NetworkPlan:
    """The stack's bridge and nodes, decided from its id and node count alone."""

    stack_id: str
    nodes: tuple[NodeAddress, ...]

    @property
    def bridge(self) -> str:
        return f"kvb-{self.stack_id}"

    @property
    def host_ip(self) -> str:
        return str(BRIDGE_SUBNET.network_address + 1)

    @property
    def prefix_len(self) -> int:
        return BRIDGE_SUBNET.prefixlen


def stack_id(state_root: Path) -> str:
    """Four hex digits from the state folder: short enough for 15-character link names."""
    return hashlib.sha256(str(state_root.resolve()).encode()).hexdigest()[:4]


def plan(state_root: Path, count: int) -> NetworkPlan:
    if not 1 <= count <= 200:
        raise KovirtError(f"node count must be between 1 and 200, not {count}")
    ident = stack_id(state_root)
    nodes = tuple(_node(ident, index) for index in range(1, count + 1))
    return NetworkPlan(ident, nodes)


def _node(ident: str, index: int) -> NodeAddress:
    pod_net = list(CLUSTER_CIDR.subnets(new_prefix=24))[index]
    return NodeAddress(
        index=index,
        name=f"kv-node-{index}",
        netns=f"kovirt-{ident}-node{index}",
        host_veth=f"kv{ident}n{index}",
        ip=str(BRIDGE_SUBNET.network_address + FIRST_NODE_HOST + index),
        pod_cidr=str(pod_net),
    )


# -- making it ---------------------------------------------------------------------------


def create_bridge(net: NetworkPlan) -> None:
    if not link_exists(net.bridge):
        _ip("link", "add", net.bridge, "type", "bridge")
    _ip("addr", "replace", f"{net.host_ip}/{net.prefix_len}", "dev", net.bridge)
    _ip("link", "set", net.bridge, "up")


def create_node_netns(net: NetworkPlan, node: NodeAddress, service_cidr: str) -> None:
    if not node.netns_path.exists():
        _ip("netns", "add", node.netns)
    inside = ("ip", "-n", node.netns)
    if not link_exists(node.host_veth):
        peer = ("peer", "name", "eth0", "netns", node.netns)
        _ip("link", "add", node.host_veth, "type", "veth", *peer)
    _ip("link", "set", node.host_veth, "master", net.bridge, "up")
    _run([*inside, "link", "set", "lo", "up"])
    _run([*inside, "addr", "replace", f"{node.ip}/{net.prefix_len}", "dev", "eth0"])
    _run([*inside, "link", "set", "eth0", "up"])
    # Services are DNAT-ed on the node; locally made packets need a route before that.
    _run([*inside, "route", "replace", service_cidr, "via", net.host_ip])
    for other in net.nodes:
        if other != node:
            _run([*inside, "route", "replace", other.pod_cidr, "via", other.ip])
    # Pods' packets to other nodes and to the host pass through the node's IP stack.
    _run(["ip", "netns", "exec", node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
    # The host answers pods (the API server's replies) through their node.
    _ip("route", "replace", node.pod_cidr, "via", node.ip, "dev", net.bridge)


# -- undoing it --------------------------------------------------------------------------


def delete_node_netns(node: NodeAddress) -> None:
    """Deleting the namespace deletes its veth end, and with it the host end."""
    if node.netns_path.exists():
        _ip("netns", "delete", node.netns)
    # The host end vanishes with the namespace, a moment later: it may go between the
    # check and the delete.
    if link_exists(node.host_veth):
        subprocess.run(["ip", "link", "delete", node.host_veth], capture_output=True)
    _wait_gone(node.host_veth)


def _wait_gone(link: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while link_exists(link):
        if time.monotonic() > deadline:
            raise KovirtError(f"link {link} is still there {timeout_s:.0f}s after deleting it")
        time.sleep(0.05)


def delete_bridge(net: NetworkPlan) -> None:
    """The pod-subnet routes go with the bridge they point through."""
    if link_exists(net.bridge):
        _ip("link", "delete", net.bridge)


def leftovers(net: NetworkPlan) -> list[str]:
    """Whatever of this plan still exists on the host (empty after a clean `down`)."""
    found = [f"link {net.bridge}"] if link_exists(net.bridge) else []
    for node in net.nodes:
        if node.netns_path.exists():
            found.append(f"netns {node.netns}")
        if link_exists(node.host_veth):
            found.append(f"link {node.host_veth}")
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True).stdout
    found += [
        f"route {node.pod_cidr}" for node in net.nodes if routes.count(f"{node.pod_cidr} ") > 0
    ]
    return found


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _ip(*args: str) -> None:
    _run(["ip", *args])


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise KovirtError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
