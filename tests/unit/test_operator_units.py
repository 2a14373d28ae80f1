"""Pure parts of the operator: placement, agent manifests, leader-lease expiry."""

from __future__ import annotations

from kovirt.api.v1alpha1 import DataCenter, Host, VirtualMachine
from kovirt.api.v1alpha1.datacenter import Hypervisor, LibvirtMode
from kovirt.operator import agents, hostsets, libvirt_pods
from kovirt.operator.placement import choose_host
from kovirt.operator.retry import backoff


def make_host(
    name: str,
    dc: str = "dc",
    cpus: int = 4,
    memory_gi: int = 8,
    ready=True,
    labels=None,
    maintenance=False,
) -> Host:
    return Host.model_validate(
        {
            "kind": "Host",
            "metadata": {"name": name},
            "spec": {"dataCenter": dc, "labels": labels or {}, "maintenance": maintenance},
            "status": {
                "capacity": {"cpus": cpus, "memoryBytes": memory_gi * 2**30},
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
    )


def make_vm(
    name: str = "v", cpus: int = 1, memory: str = "1Gi", host: str | None = None, selector=None
) -> VirtualMachine:
    return VirtualMachine.model_validate(
        {
            "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": "n", "uid": f"uid-{name}"},
            "spec": {
                "dataCenter": "dc",
                "cpus": cpus,
                "memory": memory,
                "nodeSelector": selector or {},
            },
            "status": {"host": host} if host else {},
        }
    )


def test_placement_picks_the_ready_host_with_most_free_memory() -> None:
    hosts = [make_host("a"), make_host("b")]
    busy = [make_vm("x", memory="4Gi", host="a")]
    assert choose_host(make_vm(), hosts, busy).host == "b"


def test_placement_skips_hosts_that_are_not_ready_or_in_maintenance() -> None:
    hosts = [make_host("a", ready=False), make_host("b", maintenance=True)]
    placement = choose_host(make_vm(), hosts, [])
    assert placement.host is None
    assert placement.reason == "NoReadyHost"


def test_placement_respects_the_node_selector() -> None:
    hosts = [make_host("a"), make_host("b", labels={"disk": "ssd"})]
    assert choose_host(make_vm(selector={"disk": "ssd"}), hosts, []).host == "b"
    assert choose_host(make_vm(selector={"gpu": "yes"}), hosts, []).reason == "NoMatchingHost"


def test_a_vm_too_large_for_every_host_is_insufficient_resources() -> None:
    placement = choose_host(make_vm(memory="64Gi"), [make_host("a")], [])
    assert placement.reason == "InsufficientResources"
    assert "64Gi" in placement.message


def test_a_vm_already_counted_on_a_host_does_not_block_itself() -> None:
    vm = make_vm("self", cpus=4, host="a")
    assert choose_host(vm, [make_host("a", cpus=4)], [vm]).host == "a"


def test_hosts_of_other_data_centers_are_never_chosen() -> None:
    assert choose_host(make_vm(), [make_host("a", dc="other")], []).reason == "NoHostInDataCenter"


def dc() -> DataCenter:
    return DataCenter.model_validate(
        {
            "kind": "DataCenter",
            "metadata": {"name": "east", "uid": "u-1"},
            "spec": {"ceph": {"secretRef": {"name": "s"}}, "hosts": {"nodeSelector": {"hv": "y"}}},
        }
    )


def test_the_agent_daemonset_is_owned_by_its_data_center_and_gets_no_admin_key() -> None:
    manifest = agents.daemonset(dc(), "kovirt-system")
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"hv": "y"}
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["KOVIRT_CEPH_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "kovirt-agent-east"
    assert pod["containers"][0]["image"] == "kovirt:0.1.0"  # the operator's default


def test_the_agent_is_root_but_unprivileged_and_rolls_freely() -> None:
    manifest = agents.daemonset(dc(), "kovirt-system")
    assert manifest["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["privileged"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["command"][:2] == ["/usr/bin/tini", "--"]


def test_libvirt_pods_are_privileged_on_delete_and_share_per_node_folders_with_the_agent() -> None:
    libvirt = libvirt_pods.daemonset(dc(), "kovirt-system")
    agent = agents.daemonset(dc(), "kovirt-system")
    assert libvirt["metadata"]["name"] == "kovirt-libvirt-east"
    assert libvirt["spec"]["updateStrategy"] == {"type": "OnDelete"}
    pod = libvirt["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["nodeSelector"] == {"hv": "y"}
    container = pod["containers"][0]
    assert container["securityContext"]["privileged"] is True
    assert container["command"] == ["/usr/bin/tini", "--", "kovirt-libvirtd"]
    # The same host folders, per node, at the same paths: the socket and console logs.
    agent_mounts = agent["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert container["volumeMounts"] == agent_mounts
    by_path = {m["mountPath"]: m for m in agent_mounts}
    assert by_path["/run/libvirt"]["subPathExpr"] == "$(KOVIRT_HOST_NAME)/libvirt"
    assert by_path["/var/lib/kovirt"]["subPathExpr"] == "$(KOVIRT_HOST_NAME)"
    assert libvirt["spec"]["selector"] != agent["spec"]["selector"]


def test_host_mode_mounts_the_hosts_libvirt_socket_folder_as_it_is() -> None:
    east = dc()
    east.spec.agent.libvirt = LibvirtMode.HOST
    mounts = agents.daemonset(east, "ns")["spec"]["template"]["spec"]["containers"][0][
        "volumeMounts"
    ]
    assert all("subPathExpr" not in m for m in mounts)
    volumes = agents.daemonset(east, "ns")["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["hostPath"]["path"] == "/var/run/libvirt"


def test_the_agent_secret_holds_only_the_agent_user_and_key() -> None:
    secret = agents.secret(dc(), "kovirt-system", "kovirt-agent-east", "AQB==")
    assert set(secret["data"]) == {"user", "key"}


def test_ceph_conf_names_the_monitors_and_no_secret() -> None:
    conf = agents.ceph_conf(["10.0.0.1:6789", "10.0.0.2:6789"])
    assert "mon_host = 10.0.0.1:6789,10.0.0.2:6789" in conf
    assert "key" not in conf


def test_vcpus_may_be_overcommitted_by_the_data_centers_ratio() -> None:
    placed = [make_vm(f"x{i}", cpus=2, memory="64Mi", host="a") for i in range(3)]
    host = make_host("a", cpus=2)
    assert choose_host(make_vm(cpus=2), [host], placed).reason == "InsufficientResources"
    assert choose_host(make_vm(cpus=2), [host], placed, cpu_overcommit=4).host == "a"


def dc_raw(name: str, created: str, selector: dict) -> dict:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"hosts": {"nodeSelector": selector}},
    }


def test_a_newer_data_center_may_not_take_nodes_an_older_one_may_select() -> None:
    older = dc_raw("east", "2026-01-01T00:00:00Z", {})
    assert hostsets.first_sharing("west", "2026-02-01T00:00:00Z", {}, [older]) == "east"
    # The older one keeps its nodes.
    newer = dc_raw("west", "2026-02-01T00:00:00Z", {})
    assert hostsets.first_sharing("east", "2026-01-01T00:00:00Z", {}, [newer]) is None
    # One key with different values: disjoint. A subset or another key: may overlap.
    east = dc_raw("east", "2026-01-01T00:00:00Z", {"kovirt.io/datacenter": "east"})
    west = {"kovirt.io/datacenter": "west"}
    assert hostsets.first_sharing("west", "2026-02-01T00:00:00Z", west, [east]) is None
    assert hostsets.first_sharing("west", "2026-02-01", {"rack": "1"}, [east]) == "east"


def test_retries_start_after_a_second_and_double_up_to_the_cap() -> None:
    assert [backoff(r, cap=10) for r in range(6)] == [1, 2, 4, 8, 10, 10]


def test_only_hypervisor_auto_mounts_the_nodes_boot_folder_for_its_kvm_probe() -> None:
    east = dc()
    assert any(v["name"] == "boot" for v in agents.host_folders(east)[0])
    east.spec.hosts.hypervisor = Hypervisor.QEMU
    volumes, mounts = agents.host_folders(east)
    assert not [v for v in volumes if v["name"] == "boot"]
    assert not [m for m in mounts if m["name"] == "boot"]
