"""The operator against the real API server and real Ceph: the examples, end to end.

The node agent does not run here (tests/integration/test_agent*.py cover it): a Host object
is registered by the test the way an agent would, so placement has somewhere to go.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from kovirt.ceph import images, pools, users
from tests.fixtures.operator import KovirtEnv, image_bytes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TAG = f"t{uuid.uuid4().hex[:5]}"
NS = "demo"


def example(filename: str) -> dict:
    return yaml.safe_load((EXAMPLES / filename).read_text())


def renamed(doc: dict, name: str, **spec_changes) -> dict:
    doc = copy.deepcopy(doc)
    doc["metadata"]["name"] = name
    doc["spec"].update(spec_changes)
    return doc


def dump(*docs: dict) -> str:
    return yaml.safe_dump_all(docs)


def register_host(
    env: KovirtEnv, name: str, dc: str, cpus: int = 4, memory_gi: int = 8, heartbeat=True
) -> None:
    """What a node agent does when it starts: a Host with capacity and a Ready condition,
    and a heartbeat Lease (long-lived here: no agent renews it in these tests)."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": f"kovirt-host-{name}", "namespace": "kovirt-system"},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 3600,
            "renewTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }
    env.apply(
        dump(
            *([lease] if heartbeat else []),
            {
                "apiVersion": "kovirt.io/v1alpha1",
                "kind": "Host",
                "metadata": {"name": name},
                "spec": {"dataCenter": dc},
            },
        )
    )
    env.api.patch_cluster_custom_object_status(
        "kovirt.io",
        "v1alpha1",
        "hosts",
        name,
        {
            "status": {
                "phase": "Ready",
                "capacity": {"cpus": cpus, "memoryBytes": memory_gi * 2**30},
                "hypervisor": "qemu",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "AgentReady",
                        "message": "test host",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        },
    )


DC = f"{TAG}-dc"
DATA, BULK, ISO = f"{TAG}-data", f"{TAG}-bulk", f"{TAG}-iso"
IMAGE, VM, HOST = f"{TAG}-golden", f"{TAG}-vm", f"{TAG}-host1"


@pytest.fixture(scope="module")
def scenario(kovirt_env: KovirtEnv, operator, image_server):
    """The examples, renamed for this run, applied in one go (as Argo CD or kubectl would)."""
    served = image_server.add(f"{TAG}.img", image_bytes(8 * 2**20))
    dc = renamed(example("10-datacenter.yaml"), DC)
    data = renamed(example("20-storagedomain-data.yaml"), DATA, dataCenter=DC)
    bulk = renamed(example("21-storagedomain-ec.yaml"), BULK, dataCenter=DC, reclaimPolicy="Delete")
    iso = renamed(example("22-storagedomain-iso.yaml"), ISO, dataCenter=DC)
    image = renamed(example("30-diskimage.yaml"), IMAGE, storageDomain=ISO)
    image["spec"]["source"]["http"] = {"url": served.url, "sha256": served.sha256}
    vm = renamed(example("40-virtualmachine.yaml"), VM, dataCenter=DC)
    vm["spec"]["disks"][0]["storageDomain"] = DATA
    vm["spec"]["disks"][0]["source"]["image"]["name"] = IMAGE
    vm["spec"]["disks"][1]["storageDomain"] = BULK
    register_host(kovirt_env, HOST, DC)
    kovirt_env.apply(dump(dc, data, bulk, iso, image, vm))
    yield {"served": served}


def ready_vm(env: KovirtEnv, operator):
    return env.wait_for(
        "the VM to be Scheduled with its disks",
        lambda: (
            (vm := env.get("virtualmachines", VM, NS))
            and (vm.get("status") or {}).get("phase") == "Scheduled"
            and vm
        ),
        timeout_s=180,
        on_timeout=lambda: f"{env.get('virtualmachines', VM, NS)}\n{operator.log_tail()}",
    )


def test_the_data_center_connects_and_reports_ceph(kovirt_env, scenario, operator):
    dc = kovirt_env.wait_for(
        "DataCenter Ready",
        lambda: (
            (d := kovirt_env.get("datacenters", DC))
            and (d.get("status") or {}).get("phase") == "Ready"
            and d
        ),
        on_timeout=operator.log_tail,
    )
    assert dc["status"]["fsid"] == kovirt_env.ceph.fsid
    assert dc["status"]["cephHealth"].startswith("HEALTH_")
    assert dc["status"]["capacityBytes"] > 0


def test_each_storage_domain_gets_the_pool_layout_it_asks_for(kovirt_env, scenario, operator):
    for name in (DATA, BULK, ISO):
        kovirt_env.wait_for(
            f"StorageDomain {name} Active",
            lambda name=name: (
                ((kovirt_env.get("storagedomains", name) or {}).get("status") or {}).get("phase")
                == "Active"
            ),
            on_timeout=operator.log_tail,
        )
    with kovirt_env.ceph.connect() as cluster:
        data = pools.get_pool(cluster, f"kovirt-{DATA}")
        assert (data.size, data.min_size) == (3, 2)
        assert data.quota_bytes == 50 * 2**30
        bulk_meta = pools.get_pool(cluster, f"kovirt-{BULK}")
        bulk_data = pools.get_pool(cluster, f"kovirt-{BULK}-data")
        assert not bulk_meta.erasure and bulk_data.erasure
    bulk = kovirt_env.get("storagedomains", BULK)
    assert bulk["status"]["dataPool"] == f"kovirt-{BULK}-data"


def test_the_agents_cephx_user_may_use_only_the_domain_pools(kovirt_env, scenario, operator):
    wanted = sorted([f"kovirt-{DATA}", f"kovirt-{BULK}", f"kovirt-{BULK}-data", f"kovirt-{ISO}"])

    def caps():
        with kovirt_env.ceph.connect() as cluster:
            user = users.get_user(cluster, f"kovirt-agent-{DC}")
        return user and user["caps"]

    got = kovirt_env.wait_for(
        "agent caps on every pool",
        lambda: (c := caps()) and all(f"pool={p}" in c.get("osd", "") for p in wanted) and c,
        on_timeout=operator.log_tail,
    )
    assert got["mon"] == "profile rbd"
    assert got["osd"] == ", ".join(f"profile rbd pool={p}" for p in wanted)


def test_the_agent_daemonset_secret_and_configmap_are_owned_by_the_data_center(
    kovirt_env, scenario, operator
):
    dc = kovirt_env.get("datacenters", DC)
    ds = kovirt_env.wait_for(
        "the agent DaemonSet",
        lambda: (
            kovirt_env.apps.list_namespaced_daemon_set(
                "kovirt-system", label_selector=f"kovirt.io/datacenter={DC}"
            ).items
        ),
        on_timeout=operator.log_tail,
    )[0]
    assert ds.metadata.owner_references[0].uid == dc["metadata"]["uid"]
    secret = kovirt_env.core.read_namespaced_secret(f"kovirt-agent-{DC}", "kovirt-system")
    assert secret.metadata.owner_references[0].uid == dc["metadata"]["uid"]
    assert set(secret.data) == {"user", "key"}  # the agents' key only, never the admin's


def test_the_disk_image_is_imported_verified_and_protected(kovirt_env, scenario, operator):
    image = kovirt_env.wait_for(
        "DiskImage Ready",
        lambda: (
            (i := kovirt_env.get("diskimages", IMAGE, NS))
            and (i.get("status") or {}).get("phase") == "Ready"
            and i
        ),
        on_timeout=operator.log_tail,
    )
    status = image["status"]
    assert status["checksumVerified"] is True
    assert status["sha256"] == scenario["served"].sha256
    assert status["sizeBytes"] == len(scenario["served"].data)
    with kovirt_env.ceph.connect() as cluster:
        info = images.stat_image(cluster, status["pool"], status["image"])
        snap = next(s for s in info.snapshots if s.name == status["snapshot"])
        assert snap.protected
        assert (
            images.read_image(cluster, status["pool"], status["image"], 0, 4096)
            == scenario["served"].data[:4096]
        )


def test_the_vm_gets_clone_and_blank_disks_and_a_host(kovirt_env, scenario, operator):
    vm = ready_vm(kovirt_env, operator)
    assert vm["status"]["host"] == HOST
    assert vm["metadata"]["labels"]["kovirt.io/host"] == HOST
    disks = {d["name"]: d for d in vm["status"]["disks"]}
    image = kovirt_env.get("diskimages", IMAGE, NS)["status"]
    assert disks["root"]["parent"] == f"{image['pool']}/{image['image']}@golden"
    assert disks["scratch"]["sizeBytes"] == 2**30
    assert disks["scratch"]["dataPool"] == f"kovirt-{BULK}-data"
    with kovirt_env.ceph.connect() as cluster:
        root = images.stat_image(cluster, disks["root"]["pool"], disks["root"]["image"])
        assert root.parent is not None  # copy-on-write: nothing was copied
        scratch = images.stat_image(cluster, disks["scratch"]["pool"], disks["scratch"]["image"])
        assert scratch.data_pool == f"kovirt-{BULK}-data"


def test_the_storage_domain_refuses_deletion_while_disks_live_in_it(kovirt_env, scenario, operator):
    ready_vm(kovirt_env, operator)
    kovirt_env.delete("storagedomain", DATA)
    blocked = kovirt_env.wait_for(
        "DeletionBlocked on the data domain",
        lambda: kovirt_env.condition(kovirt_env.get("storagedomains", DATA), "DeletionBlocked"),
        on_timeout=operator.log_tail,
    )
    assert blocked["reason"] == "InUse"
    assert VM in blocked["message"]
    with kovirt_env.ceph.connect() as cluster:
        assert pools.pool_exists(cluster, f"kovirt-{DATA}")


def test_deleting_everything_removes_images_pools_user_and_owned_objects(
    kovirt_env, scenario, operator
):
    vm = ready_vm(kovirt_env, operator)
    disk_images = [(d["pool"], d["image"]) for d in vm["status"]["disks"]]
    kovirt_env.delete("kvm", VM, NS)
    kovirt_env.wait_for(
        "the VM gone",
        lambda: kovirt_env.get("virtualmachines", VM, NS) is None,
        on_timeout=operator.log_tail,
    )
    with kovirt_env.ceph.connect() as cluster:
        for pool, image in disk_images:
            assert not images.image_exists(cluster, pool, image)
    kovirt_env.delete("kdi", IMAGE, NS)
    kovirt_env.wait_for(
        "the DiskImage gone",
        lambda: kovirt_env.get("diskimages", IMAGE, NS) is None,
        on_timeout=operator.log_tail,
    )
    for name in (DATA, BULK, ISO):
        kovirt_env.delete("storagedomain", name)
    for name in (DATA, BULK, ISO):
        kovirt_env.wait_for(
            f"StorageDomain {name} gone",
            lambda name=name: kovirt_env.get("storagedomains", name) is None,
            on_timeout=operator.log_tail,
        )
    with kovirt_env.ceph.connect() as cluster:
        left = [p for p in pools.list_pools(cluster) if TAG in p]
        assert left == []  # reclaimPolicy Delete everywhere in this scenario
    kovirt_env.delete("host", HOST)
    kovirt_env.delete("datacenter", DC)
    kovirt_env.wait_for(
        "the DataCenter gone",
        lambda: kovirt_env.get("datacenters", DC) is None,
        on_timeout=operator.log_tail,
    )
    with kovirt_env.ceph.connect() as cluster:
        assert users.get_user(cluster, f"kovirt-agent-{DC}") is None
    kovirt_env.wait_for(
        "the garbage collector to remove the agent DaemonSet",
        lambda: (
            not kovirt_env.apps.list_namespaced_daemon_set(
                "kovirt-system", label_selector=f"kovirt.io/datacenter={DC}"
            ).items
        ),
        timeout_s=60,
    )
