"""Pure decisions of kovirt.ceph: caps, failure domains, layout checks and mon commands."""

from __future__ import annotations

import errno

import pytest

from kovirt.ceph.errors import ImageBusy, InvalidLayout, PermissionDenied, from_errno
from kovirt.ceph.layout import (
    OWNER_KEY,
    ErasureCoded,
    PoolSpec,
    PoolState,
    Replicated,
    caps_list,
    count_failure_domains,
    create_commands,
    immutable_changes,
    rbd_caps,
    update_commands,
    validate_layout,
)


def osd(osd_id: int, *, status: str = "up", reweight: float = 1.0, klass: str = "hdd") -> dict:
    return {
        "id": osd_id,
        "name": f"osd.{osd_id}",
        "type": "osd",
        "status": status,
        "reweight": reweight,
        "device_class": klass,
    }


def bucket(bucket_id: int, kind: str, children: list[int]) -> dict:
    return {"id": bucket_id, "name": f"{kind}{bucket_id}", "type": kind, "children": children}


# Two hosts: host -2 has osd.0 (hdd) and osd.1 (ssd); host -3 has osd.2 (hdd, down).
TREE = {
    "nodes": [
        bucket(-1, "root", [-2, -3]),
        bucket(-2, "host", [0, 1]),
        bucket(-3, "host", [2]),
        osd(0),
        osd(1, klass="ssd"),
        osd(2, status="down"),
    ]
}


def state(name: str, **overrides) -> PoolState:
    values = dict(
        name=name,
        pool_id=7,
        erasure=False,
        size=3,
        min_size=2,
        crush_rule_id=1,
        ec_profile="",
        quota_bytes=0,
        compression=None,
        applications={"rbd": {OWNER_KEY: "dc-1"}},
        ec_overwrites=False,
    )
    values.update(overrides)
    return PoolState(**values)


def test_rbd_caps_name_every_pool_once_and_nothing_else():
    assert rbd_caps(["b", "a", "b"]) == {
        "mon": "profile rbd",
        "osd": "profile rbd pool=a, profile rbd pool=b",
    }


def test_rbd_caps_refuse_no_pools_and_names_that_would_widen_the_cap():
    with pytest.raises(InvalidLayout):
        rbd_caps([])
    with pytest.raises(InvalidLayout):
        rbd_caps(["a, allow *"])


def test_caps_list_alternates_service_and_cap():
    assert caps_list({"osd": "o", "mon": "m"}) == ["mon", "m", "osd", "o"]


def test_failure_domains_count_only_buckets_with_usable_osds():
    assert count_failure_domains(TREE, "osd") == 2  # osd.2 is down
    assert count_failure_domains(TREE, "host") == 1
    assert count_failure_domains(TREE, "osd", "ssd") == 1
    assert count_failure_domains(TREE, "rack") == 0


def test_an_osd_weighted_out_is_not_a_failure_domain():
    tree = {"nodes": [bucket(-1, "root", [0, 1]), osd(0), osd(1, reweight=0.0)]}
    assert count_failure_domains(tree, "osd") == 1


def test_k_plus_m_wider_than_the_failure_domains_is_refused_with_the_numbers():
    with pytest.raises(InvalidLayout, match=r"8\+4 needs 12 failure domains of type 'host'.*3"):
        validate_layout(ErasureCoded(8, 4), domains=3)
    validate_layout(ErasureCoded(2, 1, "osd"), domains=3)


def test_more_replicas_than_failure_domains_and_bad_min_size_are_refused():
    with pytest.raises(InvalidLayout, match="3 replicas"):
        validate_layout(Replicated(3), domains=2)
    with pytest.raises(InvalidLayout, match="min_size"):
        validate_layout(Replicated(3, min_size=4), domains=3)
    with pytest.raises(InvalidLayout, match="k >= 2"):
        validate_layout(ErasureCoded(1, 1), domains=3)


def test_a_replicated_pool_is_created_with_its_rule_then_marked_as_ours_at_once():
    spec = PoolSpec(
        "vms", owner="dc-1", layout=Replicated(3, failure_domain="osd", device_class="ssd")
    )
    commands = create_commands(spec, "vms", existing_rules=[])
    assert commands == [
        {
            "prefix": "osd crush rule create-replicated",
            "name": "kovirt-replicated-osd-ssd",
            "root": "default",
            "type": "osd",
            "class": "ssd",
        },
        {
            "prefix": "osd pool create",
            "pool": "vms",
            "pool_type": "replicated",
            "rule": "kovirt-replicated-osd-ssd",
        },
        {"prefix": "osd pool application enable", "pool": "vms", "app": "rbd"},
        {
            "prefix": "osd pool application set",
            "pool": "vms",
            "app": "rbd",
            "key": OWNER_KEY,
            "value": "dc-1",
        },
    ]
    assert create_commands(spec, "vms", ["kovirt-replicated-osd-ssd"])[0]["prefix"] == (
        "osd pool create"
    ), "an existing rule is reused"


def test_an_ec_domain_is_a_replicated_metadata_pool_and_an_ec_data_pool():
    spec = PoolSpec("big", owner="dc-1", layout=ErasureCoded(4, 2, "host"))
    assert spec.pool_names() == ["big", "big-data"]
    assert spec.metadata_layout == Replicated(3, None, "host", None)

    data = create_commands(spec, "big-data", existing_rules=[])
    assert data[0] == {
        "prefix": "osd erasure-code-profile set",
        "name": "kovirt-big",
        "profile": ["k=4", "m=2", "crush-failure-domain=host"],
        "force": True,
    }
    assert data[1] == {
        "prefix": "osd pool create",
        "pool": "big-data",
        "pool_type": "erasure",
        "erasure_code_profile": "kovirt-big",
    }


def test_updates_are_only_the_settings_that_differ():
    spec = PoolSpec("vms", owner="dc-1", layout=Replicated(3, failure_domain="osd"))
    rules = {"kovirt-replicated-osd": 1}
    assert update_commands(spec, state("vms"), rules) == []

    drifted = state("vms", size=2, min_size=1, crush_rule_id=0, quota_bytes=5)
    assert update_commands(spec, drifted, rules) == [
        {
            "prefix": "osd pool set",
            "pool": "vms",
            "var": "crush_rule",
            "val": "kovirt-replicated-osd",
        },
        {"prefix": "osd pool set", "pool": "vms", "var": "size", "val": "3"},
        {"prefix": "osd pool set", "pool": "vms", "var": "min_size", "val": "2"},
        {"prefix": "osd pool set-quota", "pool": "vms", "field": "max_bytes", "val": "0"},
    ]


def test_the_ec_data_pool_gets_overwrites_quota_and_compression():
    spec = PoolSpec(
        "big",
        owner="dc-1",
        layout=ErasureCoded(2, 1, "osd"),
        quota_bytes=10,
        compression="aggressive",
    )
    data = state("big-data", erasure=True, ec_profile="kovirt-big")
    assert update_commands(spec, data, {}) == [
        {"prefix": "osd pool set", "pool": "big-data", "var": "allow_ec_overwrites", "val": "true"},
        {"prefix": "osd pool set-quota", "pool": "big-data", "field": "max_bytes", "val": "10"},
        {
            "prefix": "osd pool set",
            "pool": "big-data",
            "var": "compression_mode",
            "val": "aggressive",
        },
    ]


def test_changing_k_m_or_the_pool_type_is_reported_as_impossible():
    spec = PoolSpec("big", owner="dc-1", layout=ErasureCoded(4, 2, "osd"))
    data = state("big-data", erasure=True, ec_profile="kovirt-big")
    profile = {"k": "2", "m": "1", "crush-failure-domain": "osd"}
    assert "cannot change" in immutable_changes(spec, data, profile)[0]
    same = {"k": "4", "m": "2", "crush-failure-domain": "osd"}
    assert immutable_changes(spec, data, same) == []
    assert "exists as erasure-coded" in immutable_changes(spec, state("big", erasure=True), {})[0]


def test_the_owner_mark_is_read_from_the_rbd_application_metadata():
    assert state("vms").owner == "dc-1"
    assert state("vms", applications={}).owner is None


def test_mon_errnos_become_exceptions_with_reasons():
    assert isinstance(from_errno(-errno.EPERM, "auth"), PermissionDenied)
    assert isinstance(from_errno(errno.EBUSY, "rm"), ImageBusy)
    error = from_errno(-errno.EINVAL, "osd pool set")
    assert error.reason == "CephError" and "EINVAL" in str(error)
