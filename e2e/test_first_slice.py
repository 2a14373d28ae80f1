"""The first end-to-end slice, with manifests and kubectl only: a data center on Ceph, a
replica-3 data domain and an iso domain, a golden image from a local HTTP server, and a VM
with a clone disk and a QoS-limited blank disk that boots, writes a marker and is deleted
without leaving anything behind."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest
import yaml

from kovirt.localstack import images
from kovirt.localstack.stack import OPERATOR_NAMESPACE

DC, DATA, ISO, NS, VM = "e2e", "e2e-data", "e2e-iso", "e2e", "e2e-vm"
MARKER = "e2e-marker-42"


def manifests(image_url: str, sha256: str) -> str:
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "DataCenter",
            "metadata": {"name": DC},
            "spec": {"ceph": {"secretRef": {"name": "ceph-admin", "namespace": "kovirt-system"}}},
        },
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "StorageDomain",
            "metadata": {"name": DATA},
            "spec": {
                "dataCenter": DC,
                "type": "data",
                "pool": {"replicated": {"size": 3}, "failureDomain": "osd"},
                "qos": {"iopsPerSecond": {"total": 3000}},
                "reclaimPolicy": "Delete",
            },
        },
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "StorageDomain",
            "metadata": {"name": ISO},
            "spec": {
                "dataCenter": DC,
                "type": "iso",
                "pool": {"replicated": {"size": 2}, "failureDomain": "osd"},
                "reclaimPolicy": "Retain",
            },
        },
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "DiskImage",
            "metadata": {"name": "golden", "namespace": NS},
            "spec": {
                "storageDomain": ISO,
                "source": {"http": {"url": image_url, "sha256": sha256}},
            },
        },
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "VirtualMachine",
            "metadata": {"name": VM, "namespace": NS},
            "spec": {
                "dataCenter": DC,
                "memory": "256Mi",
                "guestConfig": {"args": f"kovirt.mode=run kovirt.marker={MARKER} kovirt.disk=vdb"},
                "disks": [
                    {
                        "name": "root",
                        "storageDomain": DATA,
                        "bootOrder": 1,
                        "source": {"image": {"name": "golden"}},
                    },
                    {
                        "name": "scratch",
                        "storageDomain": DATA,
                        "size": "256Mi",
                        "source": {"blank": {}},
                        "qos": {
                            "iopsPerSecond": {"read": 500, "write": 200},
                            "bytesPerSecond": {"total": 52428800},
                            "burst": {"iopsPerSecond": {"read": 1000}, "lengthSeconds": 20},
                        },
                    },
                ],
            },
        },
    ]
    return yaml.safe_dump_all(docs)


@pytest.fixture(scope="module")
def applied(e2e):
    url = e2e.image_url
    with urllib.request.urlopen(url, timeout=30) as response:
        sha256 = hashlib.sha256(response.read()).hexdigest()
    e2e.kubectl("apply", "-f", "-", input=manifests(url, sha256))
    e2e.join_hosts(DC)
    return {"sha256": sha256}


def vm_host(e2e) -> str:
    return e2e.jsonpath("kvm", VM, ".status.host", NS)


def phase(e2e, kind: str, name: str, namespace: str | None = None) -> str:
    return e2e.jsonpath(kind, name, ".status.phase", namespace)


def test_the_data_center_and_its_domains_become_ready(e2e, applied):
    e2e.wait("DataCenter Ready", lambda: phase(e2e, "dc", DC) == "Ready")
    for sd in (DATA, ISO):
        e2e.wait(f"{sd} Active", lambda sd=sd: phase(e2e, "sd", sd) == "Active")
    pools = e2e.kubectl("get", "sd", "-o", "custom-columns=POOL:.status.pool", "--no-headers")
    assert f"kovirt-{DATA}" in pools and f"kovirt-{ISO}" in pools


def test_the_image_is_imported_from_the_local_http_server_and_verified(e2e, applied):
    e2e.wait("DiskImage Ready", lambda: phase(e2e, "kdi", "golden", NS) == "Ready")
    status = e2e.get("kdi", "golden", NS)["status"]
    assert status["checksumVerified"] is True
    assert status["sha256"] == applied["sha256"]


def test_the_vm_reaches_running_on_the_host(e2e, applied):
    seen = set()

    def running():
        seen.add(phase(e2e, "kvm", VM, NS))
        return "Running" in seen

    e2e.wait("the VM Running", running, timeout_s=240)
    vm = e2e.get("kvm", VM, NS)
    assert vm["status"]["host"] in e2e.hosts
    root = next(d for d in vm["status"]["disks"] if d["name"] == "root")
    assert root["parent"].endswith("@golden")  # a copy-on-write clone


def test_kubectl_get_kovirt_shows_the_states(e2e, applied):
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    table = e2e.kubectl("get", "kovirt", "-A")
    for expected in (f"virtualmachine.kovirt.io/{VM}", "Running", vm_host(e2e), "Active", "Ready"):
        assert expected in table, table


def test_the_guest_writes_a_marker_that_reads_back_through_rbd(e2e, applied):
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    scratch = next(d for d in e2e.get("kvm", VM, NS)["status"]["disks"] if d["name"] == "scratch")

    def marker() -> bool:
        sector = e2e.rbd("export", f"{scratch['pool']}/{scratch['image']}", "-").stdout[:512]
        return f"KOVIRT-MARKER {MARKER}".encode() in sector

    e2e.wait("the marker on the scratch disk", marker, timeout_s=120)


def test_the_live_domain_carries_the_asked_iotune_limits(e2e, applied):
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    xml = e2e.virsh(vm_host(e2e), "dumpxml", f"kovirt-{NS}-{VM}")
    for element in (
        "<read_iops_sec>500</read_iops_sec>",
        "<write_iops_sec>200</write_iops_sec>",
        "<total_bytes_sec>52428800</total_bytes_sec>",
        "<read_iops_sec_max>1000</read_iops_sec_max>",
        "<total_iops_sec>3000</total_iops_sec>",
    ):
        assert element in xml, f"{element} missing from the live domain XML"


def qemu_pids(e2e, host: str) -> list[str]:
    """QEMU processes in the libvirt pod of `host` (nodes mode)."""
    pod = e2e.stack.libvirt_pod(host)
    out = e2e.kubectl("exec", "-n", OPERATOR_NAMESPACE, pod, "--", "pgrep", "-f", "qemu-system")
    return out.split()


@pytest.mark.nodes_only
def test_nodes_the_guest_runs_inside_the_libvirt_pod_of_its_node(e2e, applied):
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    host = vm_host(e2e)
    assert f"kovirt-{NS}-{VM}" in e2e.virsh(host, "list", "--name")
    assert len(qemu_pids(e2e, host)) == 1


@pytest.mark.nodes_only
def test_nodes_a_rollout_restart_of_the_agents_leaves_the_guest_running_and_adopted(e2e, applied):
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    host = vm_host(e2e)
    before = qemu_pids(e2e, host)
    agents = f"daemonset/kovirt-agent-{DC}"
    e2e.kubectl("rollout", "restart", agents, "-n", OPERATOR_NAMESPACE)
    e2e.kubectl("rollout", "status", agents, "-n", OPERATOR_NAMESPACE, "--timeout=180s")
    assert qemu_pids(e2e, host) == before  # the same QEMU process: never restarted
    adopted = f"to adopt: ['kovirt-{NS}-{VM}']"
    e2e.wait("the new agent to adopt the guest", lambda: adopted in agent_log(e2e, host))
    vm = e2e.get("kvm", VM, NS)
    assert vm["status"]["phase"] == "Running"
    assert vm["status"]["runtime"]["restarts"] == 0


def agent_log(e2e, host: str) -> str:
    pods = e2e.kubectl(
        "get", "pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=agent",
        "--field-selector", f"spec.nodeName={host},status.phase=Running",
        "-o", "jsonpath={.items[*].metadata.name}",
    ).split()  # fmt: skip
    return "".join(e2e.kubectl("logs", "-n", OPERATOR_NAMESPACE, pod) for pod in pods)


@pytest.mark.nodes_only
def test_nodes_kubectl_logs_of_the_agent_show_its_work(e2e, applied):
    host = vm_host(e2e)
    e2e.wait("the agent's log", lambda: "kovirt agent started on host" in agent_log(e2e, host))
    logs = agent_log(e2e, host)
    assert "hypervisor mode" in logs and f"started on host {host}" in logs


@pytest.mark.nodes_only
def test_nodes_helm_upgrade_to_a_new_image_rolls_the_agents_but_never_the_libvirt_pods(
    e2e, applied
):
    """The chart's upgrade path: a new image reaches the operator and the agents; the libvirt
    pods (OnDelete) and so the guests stay until an admin deletes a libvirt pod."""
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    host = vm_host(e2e)
    libvirt_pods = pod_uids(e2e, "libvirt")
    qemu_before = qemu_pids(e2e, host)
    # The same image under its content tag (both tags are in every node's containerd).
    new_image = images.planned_images().kovirt
    e2e.stack.helm(*e2e.stack.install_args("--set", f"image.tag={new_image.tag}"))
    agents = f"daemonset/kovirt-agent-{DC}"

    def agents_on_new_image() -> bool:
        image = e2e.jsonpath("ds", agents.split("/")[1], ".spec.template.spec.containers[0].image",
                             OPERATOR_NAMESPACE)  # fmt: skip
        return image == new_image.ref

    e2e.wait("the operator to move the agents to the new image", agents_on_new_image)
    e2e.kubectl("rollout", "status", agents, "-n", OPERATOR_NAMESPACE, "--timeout=180s")
    libvirt_ds = e2e.get("ds", f"kovirt-libvirt-{DC}", OPERATOR_NAMESPACE)
    assert libvirt_ds["spec"]["template"]["spec"]["containers"][0]["image"] == new_image.ref
    assert pod_uids(e2e, "libvirt") == libvirt_pods  # OnDelete: not restarted
    assert qemu_pids(e2e, host) == qemu_before
    history = e2e.stack.helm("history", "kovirt", "-n", OPERATOR_NAMESPACE)
    assert "Upgrade complete" in history
    e2e.stack.helm(*e2e.stack.install_args())  # back to the local tag


def pod_uids(e2e, component: str) -> set[str]:
    out = e2e.kubectl(
        "get", "pods", "-n", OPERATOR_NAMESPACE, "-l", f"app.kubernetes.io/component={component}",
        "-o", "jsonpath={.items[*].metadata.uid}",
    )  # fmt: skip
    return set(out.split())


def test_deleting_the_vm_removes_the_domain_and_its_rbd_images(e2e, applied):
    e2e.wait("the VM Running", lambda: phase(e2e, "kvm", VM, NS) == "Running", timeout_s=240)
    disks = e2e.get("kvm", VM, NS)["status"]["disks"]
    host = vm_host(e2e)
    e2e.kubectl("delete", "kvm", VM, "-n", NS, "--wait=true", "--timeout=180s")
    assert f"kovirt-{NS}-{VM}" not in e2e.virsh(host, "list", "--all", "--name")
    images = e2e.rbd("ls", f"kovirt-{DATA}").stdout.decode().split()
    for disk in disks:
        assert disk["image"] not in images


def test_deleting_the_domains_follows_their_reclaim_policy(e2e, applied):
    e2e.kubectl("delete", "kdi", "golden", "-n", NS, "--wait=true", "--timeout=120s")
    e2e.kubectl("delete", "sd", DATA, ISO, "--wait=true", "--timeout=120s")
    pools = json.loads(subprocess_ceph(e2e, "osd", "pool", "ls", "--format", "json"))
    assert f"kovirt-{DATA}" not in pools  # Delete
    assert f"kovirt-{ISO}" in pools  # Retain: kept, with its data
    e2e.kubectl("delete", "dc", DC, "--wait=true", "--timeout=120s")
    for host in e2e.hosts:
        e2e.kubectl("delete", "host", host, "--wait=false", check=False)
    remove_retained_pool(e2e, f"kovirt-{ISO}")


def subprocess_ceph(e2e, *args: str) -> str:
    return e2e.ceph_cli("ceph", *args).stdout.decode()


def remove_retained_pool(e2e, pool: str) -> None:
    """Test cleanup (an admin's job after Retain): remove the kept pool."""
    from kovirt.ceph.connection import Credentials, connect
    from kovirt.ceph.pools import allow_pool_delete

    info = e2e.stack.ceph.up(say=lambda _: None)
    credentials = Credentials.from_conf(info.conf_path, "admin", info.admin_keyring_path)
    with connect(credentials) as cluster, allow_pool_delete(cluster):
        cluster.mon_command("osd pool rm", pool=pool, pool2=pool, yes_i_really_really_mean_it=True)
