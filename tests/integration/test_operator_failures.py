"""The operator under bad input and hard restarts: clear conditions and Events, no crash
loop, nothing existing changed, nothing leaked."""

from __future__ import annotations

import uuid

import pytest
import yaml

from kovirt.ceph import images, pools
from tests.fixtures.operator import KovirtEnv, image_bytes

TAG = f"f{uuid.uuid4().hex[:5]}"
NS = "demo"
DC, DATA, ISO, HOST = f"{TAG}-dc", f"{TAG}-data", f"{TAG}-iso", f"{TAG}-host"


def dump(*docs: dict) -> str:
    return yaml.safe_dump_all(docs)


def domain(sd_name: str, type_: str = "data", **pool) -> dict:
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "StorageDomain",
        "metadata": {"name": sd_name},
        "spec": {
            "dataCenter": DC,
            "type": type_,
            "pool": {"replicated": {"size": 2}, "failureDomain": "osd", **pool},
        },
    }


def disk_image(name: str, url: str, sha256: str | None = None) -> dict:
    http = {"url": url, **({"sha256": sha256} if sha256 else {})}
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "DiskImage",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"storageDomain": ISO, "source": {"http": http}},
    }


def vm(name: str, disks: list[dict], dc: str = DC, memory: str = "256Mi") -> dict:
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"dataCenter": dc, "memory": memory, "disks": disks},
    }


def blank(name: str, sd: str = DATA) -> dict:
    return {"name": name, "storageDomain": sd, "size": "64Mi", "source": {"blank": {}}}


@pytest.fixture(scope="module")
def base(kovirt_env: KovirtEnv, operator):
    from tests.integration.test_operator import register_host

    kovirt_env.apply(
        dump(
            {
                "apiVersion": "kovirt.io/v1alpha1",
                "kind": "DataCenter",
                "metadata": {"name": DC},
                "spec": {
                    "ceph": {"secretRef": {"name": "ceph-admin", "namespace": "kovirt-system"}}
                },
            },
            domain(DATA),
            domain(ISO, "iso"),
        )
    )
    register_host(kovirt_env, HOST, DC, cpus=2, memory_gi=1)
    for name in (DATA, ISO):
        kovirt_env.wait_for(
            f"{name} Active",
            lambda name=name: (
                ((kovirt_env.get("storagedomains", name) or {}).get("status") or {}).get("phase")
                == "Active"
            ),
            on_timeout=operator.log_tail,
        )
    yield
    for kind, _name, ns in (("kvm", None, NS), ("kdi", None, NS)):
        kovirt_env.controlplane.kubectl(
            "delete", kind, "-n", ns, "--all", "--wait=false", check=False
        )


def condition_reason(env: KovirtEnv, plural: str, name: str, type_: str, ns: str | None = NS):
    return (env.condition(env.get(plural, name, ns), type_) or {}).get("reason")


def wait_reason(env, operator, plural, name, type_, reason, ns=NS, timeout_s=90):
    env.wait_for(
        f"{plural}/{name} condition {type_} reason {reason}",
        lambda: condition_reason(env, plural, name, type_, ns) == reason,
        timeout_s=timeout_s,
        on_timeout=lambda: f"{env.get(plural, name, ns)}\n{operator.log_tail()}",
    )


def event_reasons(env: KovirtEnv, name: str, ns: str) -> set[str]:
    return {e.reason for e in env.events_for(name, ns)}


@pytest.mark.parametrize(
    ("case", "spec", "reason"),
    [
        ("no-dc", lambda: vm(f"{TAG}-nodc", [blank("a")], dc="no-such-dc"), "DataCenterNotFound"),
        (
            "no-sd",
            lambda: vm(f"{TAG}-nosd", [blank("a", sd="no-such-sd")]),
            "StorageDomainNotFound",
        ),
        (
            "no-image",
            lambda: vm(
                f"{TAG}-noimg",
                [{"name": "root", "storageDomain": DATA, "source": {"image": {"name": "nope"}}}],
            ),
            "DiskImageNotFound",
        ),
    ],
)
def test_a_vm_naming_something_missing_waits_with_a_clear_reason_and_an_event(
    kovirt_env, base, operator, case, spec, reason
):
    manifest = spec()
    name = manifest["metadata"]["name"]
    kovirt_env.apply(dump(manifest))
    wait_reason(kovirt_env, operator, "virtualmachines", name, "DisksReady", reason)
    kovirt_env.wait_for(f"an Event {reason}", lambda: reason in event_reasons(kovirt_env, name, NS))
    assert kovirt_env.get("virtualmachines", name, NS)["status"]["phase"] == "Pending"
    assert operator.process.poll() is None  # still running: no crash


def test_a_vm_too_large_for_every_host_stays_pending_as_unschedulable(kovirt_env, base, operator):
    name = f"{TAG}-huge"
    kovirt_env.apply(dump(vm(name, [blank("a")], memory="64Gi")))
    wait_reason(kovirt_env, operator, "virtualmachines", name, "Scheduled", "InsufficientResources")
    got = kovirt_env.get("virtualmachines", name, NS)
    assert got["status"]["phase"] == "Pending"
    assert "host" not in got["status"]
    assert "InsufficientResources" in event_reasons(kovirt_env, name, NS)


def test_a_domain_in_maintenance_takes_no_new_disks_and_keeps_existing_ones(
    kovirt_env, base, operator
):
    maint = f"{TAG}-maint"
    kovirt_env.apply(dump(domain(maint)))
    kovirt_env.wait_for(
        "Active",
        lambda: (
            ((kovirt_env.get("storagedomains", maint) or {}).get("status") or {}).get("phase")
            == "Active"
        ),
    )
    kovirt_env.controlplane.kubectl(
        "patch", "storagedomain", maint, "--type=merge", "-p", '{"spec":{"maintenance":true}}'
    )
    kovirt_env.wait_for(
        "Maintenance",
        lambda: kovirt_env.get("storagedomains", maint)["status"].get("phase") == "Maintenance",
    )
    name = f"{TAG}-mvm"
    kovirt_env.apply(dump(vm(name, [blank("a", sd=maint)])))
    wait_reason(
        kovirt_env, operator, "virtualmachines", name, "DisksReady", "StorageDomainInMaintenance"
    )
    with kovirt_env.ceph.connect() as cluster:
        assert images.list_images(cluster, f"kovirt-{maint}") == []
    kovirt_env.controlplane.kubectl(
        "patch", "storagedomain", maint, "--type=merge", "-p", '{"spec":{"maintenance":false}}'
    )
    wait_reason(
        kovirt_env, operator, "virtualmachines", name, "DisksReady", "Provisioned", timeout_s=120
    )
    kovirt_env.delete("kvm", name, NS)
    kovirt_env.wait_for("vm gone", lambda: kovirt_env.get("virtualmachines", name, NS) is None)
    kovirt_env.delete("storagedomain", maint)
    kovirt_env.wait_for("domain gone", lambda: kovirt_env.get("storagedomains", maint) is None)


def test_a_pool_that_exists_and_is_not_kovirts_is_refused_and_left_alone(
    kovirt_env, base, operator
):
    foreign = f"{TAG}-foreign"
    with kovirt_env.ceph.connect() as cluster:
        cluster.mon_command("osd pool create", pool=foreign, pg_num=8)
        with cluster.ioctx(foreign) as ioctx:
            ioctx.write_full("precious", b"do not touch")
    try:
        sd = domain(f"{TAG}-steal", name=foreign)
        kovirt_env.apply(dump(sd))
        wait_reason(
            kovirt_env, operator, "storagedomains", f"{TAG}-steal", "Ready", "PoolNotOwned", ns=None
        )
        assert kovirt_env.get("storagedomains", f"{TAG}-steal")["status"]["phase"] == "Failed"
        kovirt_env.delete("storagedomain", f"{TAG}-steal")
        kovirt_env.wait_for(
            "domain gone",
            lambda: kovirt_env.get("storagedomains", f"{TAG}-steal") is None,
            on_timeout=operator.log_tail,
        )
        with kovirt_env.ceph.connect() as cluster, cluster.ioctx(foreign) as ioctx:
            assert ioctx.read("precious") == b"do not touch"
    finally:
        with kovirt_env.ceph.connect() as cluster, pools.allow_pool_delete(cluster):
            cluster.mon_command(
                "osd pool rm", pool=foreign, pool2=foreign, yes_i_really_really_mean_it=True
            )


def test_an_unreachable_image_url_retries_then_fails_with_the_reason(kovirt_env, base, operator):
    from kovirt.localstack.process import free_port

    name = f"{TAG}-unreach"
    kovirt_env.apply(dump(disk_image(name, f"http://127.0.0.1:{free_port()}/gone.img")))
    wait_reason(kovirt_env, operator, "diskimages", name, "Ready", "DownloadFailed")
    kovirt_env.wait_for(
        "phase Failed after the retries",
        lambda: kovirt_env.get("diskimages", name, NS)["status"].get("phase") == "Failed",
        timeout_s=60,
        on_timeout=operator.log_tail,
    )
    assert "DownloadFailed" in event_reasons(kovirt_env, name, NS)


def test_a_corrupt_image_fails_its_checksum_and_leaves_nothing_in_ceph(
    kovirt_env, base, operator, image_server
):
    served = image_server.add(f"{TAG}-corrupt.img", image_bytes(2 * 2**20, seed=3))
    name = f"{TAG}-corrupt"
    kovirt_env.apply(dump(disk_image(name, served.url, sha256="0" * 64)))
    wait_reason(kovirt_env, operator, "diskimages", name, "Ready", "ChecksumMismatch")
    status = kovirt_env.get("diskimages", name, NS)["status"]
    assert status["phase"] == "Failed"
    assert status["checksumVerified"] is False
    with kovirt_env.ceph.connect() as cluster:
        assert [
            i for i in images.list_images(cluster, f"kovirt-{ISO}") if TAG in i and "corrupt" in i
        ] == []


def test_killing_the_operator_mid_import_converges_without_duplicates_or_orphans(
    kovirt_env, base, operator, image_server
):
    served = image_server.add(f"{TAG}-slow.img", image_bytes(16 * 2**20, seed=5), slow=True)
    name = f"{TAG}-slow"
    kovirt_env.apply(dump(disk_image(name, served.url, sha256=served.sha256)))
    kovirt_env.wait_for(
        "the import to be under way",
        lambda: (kovirt_env.get("diskimages", name, NS).get("status") or {}).get("importedBytes"),
        timeout_s=60,
        interval_s=0.2,
        on_timeout=operator.log_tail,
    )
    operator.kill()
    with kovirt_env.ceph.connect() as cluster:
        partial = [i for i in images.list_images(cluster, f"kovirt-{ISO}") if "slow" in i]
    assert partial and all(i.endswith(".kovirt-partial") for i in partial)
    operator.start()
    status = kovirt_env.wait_for(
        "DiskImage Ready after the restart",
        lambda: (
            (s := kovirt_env.get("diskimages", name, NS)["status"]).get("phase") == "Ready" and s
        ),
        timeout_s=180,
        on_timeout=operator.log_tail,
    )
    assert status["checksumVerified"] is True
    with kovirt_env.ceph.connect() as cluster:
        mine = [i for i in images.list_images(cluster, f"kovirt-{ISO}") if "slow" in i]
        assert mine == [status["image"]]  # one image, no partial left behind
        assert (
            images.read_image(cluster, f"kovirt-{ISO}", status["image"], 0, 4096)
            == served.data[:4096]
        )


def test_a_host_whose_agent_stops_heartbeating_turns_not_ready(kovirt_env, base, operator):
    from tests.integration.test_operator import register_host

    name = f"{TAG}-silent"
    register_host(kovirt_env, name, DC, heartbeat=False)  # Ready, but no Lease at all
    wait_reason(
        kovirt_env, operator, "hosts", name, "Ready", "HeartbeatLost", ns=None, timeout_s=60
    )
    assert kovirt_env.get("hosts", name)["status"]["phase"] == "NotReady"
    kovirt_env.delete("host", name)


def test_the_operator_exports_its_metrics(kovirt_env, base, operator):
    import urllib.request

    def scrape() -> str:
        with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
            return response.read().decode()

    text = kovirt_env.wait_for(
        "objects-by-phase gauges",
        lambda: (t := scrape()) and "kovirt_objects{" in t and t,
        timeout_s=60,
    )
    assert 'kovirt_objects{kind="StorageDomain",phase="Active"}' in text
    assert 'kovirt_reconcile_total{kind="StorageDomain",result="success"}' in text
    assert "kovirt_reconcile_duration_seconds_bucket" in text
    assert f'kovirt_ceph_health{{datacenter="{DC}"}} ' in text


def test_deleting_the_failure_fixtures_leaves_no_pool_behind(kovirt_env, base, operator):
    kovirt_env.controlplane.kubectl(
        "delete", "kvm,kdi", "-n", NS, "-l", "", "--all", "--wait=false", check=False
    )
    for plural in ("virtualmachines", "diskimages"):
        kovirt_env.wait_for(
            f"all {plural} of this module gone",
            lambda plural=plural: (
                not [
                    o
                    for o in kovirt_env.api.list_namespaced_custom_object(
                        "kovirt.io", "v1alpha1", NS, plural
                    )["items"]
                    if o["metadata"]["name"].startswith(TAG)
                ]
            ),
            timeout_s=120,
            on_timeout=operator.log_tail,
        )
    for name in (DATA, ISO):
        kovirt_env.delete("storagedomain", name)
    kovirt_env.delete("host", HOST)
    kovirt_env.delete("datacenter", DC)
    kovirt_env.wait_for(
        "the DataCenter gone",
        lambda: kovirt_env.get("datacenters", DC) is None,
        timeout_s=120,
        on_timeout=operator.log_tail,
    )
    with kovirt_env.ceph.connect() as cluster:
        assert [p for p in pools.list_pools(cluster) if TAG in p] == []
