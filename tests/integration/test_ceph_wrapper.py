"""kovirt.ceph against the real local cluster (3 memstore OSDs, failure domain = osd)."""

from __future__ import annotations

import asyncio
import hashlib
import io

import pytest

from kovirt.ceph import (
    CephUnavailable,
    ChecksumMismatch,
    ErasureCoded,
    Fenced,
    ImageBusy,
    InvalidLayout,
    NotOwnedByKovirt,
    PermissionDenied,
    PoolNotEmpty,
    PoolNotFound,
    PoolSpec,
    Replicated,
    connect,
    health,
    images,
    pools,
    transfer,
    users,
)
from kovirt.ceph.connection import Credentials
from kovirt.ceph.images import ImageRef
from kovirt.localstack.process import free_port, wait_until

pytestmark = pytest.mark.ceph

MiB = 1024**2
REPLICA_3 = Replicated(size=3, failure_domain="osd")


def replicated_domain(ceph_pools, suffix="r", **kwargs) -> PoolSpec:
    return PoolSpec(ceph_pools.name(suffix), owner=ceph_pools.owner, layout=REPLICA_3, **kwargs)


def pool_names_with(cluster, prefix: str) -> list[str]:
    return [p for p in pools.list_pools(cluster) if p.startswith(prefix)]


# ---- pools -----------------------------------------------------------------------------------


def test_a_replica_3_pool_reports_size_3_and_is_marked_as_ours(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools)
    pools.ensure_pools(ceph_admin, spec)

    state = pools.get_pool(ceph_admin, spec.name)
    assert (state.size, state.min_size, state.erasure) == (3, 2, False)
    assert state.owner == ceph_pools.owner
    assert "rbd" in state.applications
    rules = pools.crush_rule_ids(ceph_admin)
    assert state.crush_rule_id == rules["kovirt-replicated-osd"]


def test_ensuring_a_pool_twice_changes_only_what_differs(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools, quota_bytes=64 * MiB, compression="aggressive")
    pools.ensure_pools(ceph_admin, spec)
    epoch = ceph_admin.mon_command("osd stat")["epoch"]

    pools.ensure_pools(ceph_admin, spec)
    assert ceph_admin.mon_command("osd stat")["epoch"] == epoch, "a no-op must not touch the map"

    bigger = replicated_domain(ceph_pools, quota_bytes=128 * MiB, compression="aggressive")
    pools.ensure_pools(ceph_admin, bigger)
    assert pools.get_quota_bytes(ceph_admin, spec.name) == 128 * MiB
    assert pools.get_pool(ceph_admin, spec.name).compression == "aggressive"


def test_a_quota_is_set_and_reported(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools, quota_bytes=100 * MiB)
    pools.ensure_pools(ceph_admin, spec)

    assert pools.get_quota_bytes(ceph_admin, spec.name) == 100 * MiB
    assert health.pool_usage(ceph_admin, spec.name).quota_bytes == 100 * MiB
    pools.set_quota(ceph_admin, spec.name, None)
    assert pools.get_quota_bytes(ceph_admin, spec.name) is None


def test_an_ec_2_plus_1_domain_stores_image_data_in_the_ec_pool(ceph_admin, ceph_pools):
    spec = PoolSpec(
        ceph_pools.name("ec"),
        owner=ceph_pools.owner,
        layout=ErasureCoded(k=2, m=1, failure_domain="osd"),
    )
    names = pools.ensure_pools(ceph_admin, spec)
    assert names.data_pool == spec.data_pool
    data_pool = pools.get_pool(ceph_admin, names.data_pool)
    assert data_pool.erasure and data_pool.ec_overwrites
    assert not pools.get_pool(ceph_admin, names.pool).erasure

    images.create_image(ceph_admin, names.pool, "disk", 64 * MiB, data_pool=names.data_pool)
    payload = b"kovirt-ec" * 100_000
    images.write_image(ceph_admin, names.pool, "disk", 8 * MiB + 3, payload)

    assert images.stat_image(ceph_admin, names.pool, "disk").data_pool == names.data_pool
    assert images.read_image(ceph_admin, names.pool, "disk", 8 * MiB + 3, len(payload)) == payload
    with ceph_admin.ioctx(names.data_pool) as ioctx:
        assert any(obj.key.startswith("rbd_data.") for obj in ioctx.list_objects())


def test_deleting_a_pool_kovirt_did_not_create_is_refused(ceph_admin, ceph_pools):
    foreign = ceph_pools.name("foreign")
    ceph_admin.mon_command("osd pool create", pool=foreign)

    with pytest.raises(NotOwnedByKovirt, match="not created by kovirt"):
        pools.delete_pool(ceph_admin, foreign, ceph_pools.owner)
    assert ceph_admin.pool_exists(foreign)

    with pytest.raises(NotOwnedByKovirt):
        pools.ensure_pools(ceph_admin, PoolSpec(foreign, owner=ceph_pools.owner, layout=REPLICA_3))
    assert "rbd" not in pools.get_pool(ceph_admin, foreign).applications


def test_deleting_another_owners_pool_is_refused(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools)
    pools.ensure_pools(ceph_admin, spec)

    with pytest.raises(NotOwnedByKovirt, match="belongs to"):
        pools.delete_pool(ceph_admin, spec.name, "someone-else")
    assert ceph_admin.pool_exists(spec.name)


def test_deleting_our_pool_with_images_is_refused_until_they_are_gone(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools)
    pools.ensure_pools(ceph_admin, spec)
    images.create_image(ceph_admin, spec.name, "disk", MiB)

    with pytest.raises(PoolNotEmpty, match="disk"):
        pools.delete_pools(ceph_admin, spec)
    assert images.image_exists(ceph_admin, spec.name, "disk")

    images.remove_image(ceph_admin, spec.name, "disk")
    assert pools.delete_pools(ceph_admin, spec) == [spec.name]
    assert not ceph_admin.pool_exists(spec.name)
    assert pools.delete_pools(ceph_admin, spec) == [], "deleting again is a no-op"


def test_deleting_an_ec_domain_removes_both_pools_and_its_profile(ceph_admin, ceph_pools):
    spec = PoolSpec(
        ceph_pools.name("ec"),
        owner=ceph_pools.owner,
        layout=ErasureCoded(k=2, m=1, failure_domain="osd"),
    )
    pools.ensure_pools(ceph_admin, spec)

    assert pools.delete_pools(ceph_admin, spec) == spec.pool_names()
    assert pool_names_with(ceph_admin, ceph_pools.prefix) == []
    assert spec.ec_profile_name not in ceph_admin.mon_command("osd erasure-code-profile ls")


def test_k_plus_m_larger_than_the_osds_is_refused_before_anything_is_created(
    ceph_admin, ceph_pools
):
    too_wide = PoolSpec(
        ceph_pools.name("wide"),
        owner=ceph_pools.owner,
        layout=ErasureCoded(k=8, m=4, failure_domain="osd"),
    )
    with pytest.raises(InvalidLayout, match=r"8\+4 needs 12 failure domains .* has 3"):
        pools.ensure_pools(ceph_admin, too_wide)

    # All OSDs sit on one host, so three copies across hosts cannot be placed either.
    across_hosts = PoolSpec(
        ceph_pools.name("hosts"),
        owner=ceph_pools.owner,
        layout=Replicated(size=3, failure_domain="host"),
    )
    with pytest.raises(InvalidLayout, match="has 1"):
        pools.ensure_pools(ceph_admin, across_hosts)

    assert pool_names_with(ceph_admin, ceph_pools.prefix) == []
    assert too_wide.ec_profile_name not in ceph_admin.mon_command("osd erasure-code-profile ls")


def test_changing_k_of_an_existing_ec_domain_is_refused(ceph_admin, ceph_pools):
    name = ceph_pools.name("ec")
    pools.ensure_pools(
        ceph_admin,
        PoolSpec(name, owner=ceph_pools.owner, layout=ErasureCoded(2, 1, failure_domain="osd")),
    )
    same = PoolSpec(name, owner=ceph_pools.owner, layout=ErasureCoded(2, 1, "osd"))
    pools.ensure_pools(ceph_admin, same)

    with pytest.raises(InvalidLayout, match="cannot change"):
        pools.ensure_pools(
            ceph_admin, PoolSpec(name, owner=ceph_pools.owner, layout=ErasureCoded(3, 1, "osd"))
        )


# ---- images ----------------------------------------------------------------------------------


def test_a_missing_pool_gives_pool_not_found_and_creates_nothing(ceph_admin, ceph_pools):
    missing = ceph_pools.name("missing")
    with pytest.raises(PoolNotFound):
        images.create_image(ceph_admin, missing, "disk", MiB)
    with pytest.raises(PoolNotFound):
        pools.get_pool(ceph_admin, missing)
    assert not ceph_admin.pool_exists(missing)


def test_an_image_in_use_is_not_removed(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools)
    pools.ensure_pools(ceph_admin, spec)
    images.create_image(ceph_admin, spec.name, "disk", MiB)

    with images.open_image(ceph_admin, spec.name, "disk"), pytest.raises(ImageBusy, match="in use"):
        images.remove_image(ceph_admin, spec.name, "disk")
    assert images.image_exists(ceph_admin, spec.name, "disk")
    assert images.remove_image(ceph_admin, spec.name, "disk")
    assert not images.remove_image(ceph_admin, spec.name, "disk"), "removing twice is a no-op"


def test_a_clone_of_a_protected_snapshot_is_copy_on_write(ceph_admin, ceph_pools):
    spec = replicated_domain(ceph_pools)
    pool = pools.ensure_pools(ceph_admin, spec).pool
    images.create_image(ceph_admin, pool, "golden", 32 * MiB)
    images.write_image(ceph_admin, pool, "golden", 0, b"golden" * 1000)
    images.create_snapshot(ceph_admin, pool, "golden", "base")
    images.protect_snapshot(ceph_admin, pool, "golden", "base")

    images.clone_image(ceph_admin, ImageRef(pool, "golden"), "base", ImageRef(pool, "vm-disk"))

    child = images.stat_image(ceph_admin, pool, "vm-disk")
    assert child.parent == images.ParentRef(pool, "golden", "base")
    assert child.size_bytes == 32 * MiB
    assert images.image_usage(ceph_admin, pool, "vm-disk").used_bytes == 0, "nothing copied"
    assert images.read_image(ceph_admin, pool, "vm-disk", 0, 6) == b"golden"
    assert images.list_children(ceph_admin, pool, "golden", "base") == [ImageRef(pool, "vm-disk")]

    # The parent is pinned: neither unprotect nor remove may break the clone.
    with pytest.raises(ImageBusy, match="has clones"):
        images.unprotect_snapshot(ceph_admin, pool, "golden", "base")
    with pytest.raises(ImageBusy, match="snapshots"):
        images.remove_image(ceph_admin, pool, "golden")
    assert images.stat_image(ceph_admin, pool, "golden").snapshots[0].protected

    assert images.flatten_image(ceph_admin, pool, "vm-disk")
    assert images.parent_of(ceph_admin, pool, "vm-disk") is None
    assert images.read_image(ceph_admin, pool, "vm-disk", 0, 6) == b"golden"
    assert images.unprotect_snapshot(ceph_admin, pool, "golden", "base")
    assert images.remove_snapshot(ceph_admin, pool, "golden", "base")


def test_resize_grows_and_refuses_to_shrink_without_being_told(ceph_admin, ceph_pools):
    pool = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools)).pool
    images.create_image(ceph_admin, pool, "disk", MiB)

    assert images.resize_image(ceph_admin, pool, "disk", 4 * MiB)
    assert not images.resize_image(ceph_admin, pool, "disk", 4 * MiB)
    with pytest.raises(InvalidLayout, match="shrinking"):
        images.resize_image(ceph_admin, pool, "disk", MiB)
    assert images.stat_image(ceph_admin, pool, "disk").size_bytes == 4 * MiB


def test_import_streams_a_file_with_progress_and_checks_sha256(ceph_admin, ceph_pools):
    pool = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools)).pool
    data = b"\x01" * (3 * MiB) + bytes(6 * MiB) + b"tail"
    seen: list[int] = []

    result = transfer.import_image(
        ceph_admin,
        pool,
        "golden",
        io.BytesIO(data),
        size_bytes=len(data),
        expected_sha256=hashlib.sha256(data).hexdigest(),
        progress=lambda done, total: seen.append(done),
        chunk_bytes=MiB,
    )

    assert result.size_bytes == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.written_bytes == 3 * MiB + 4, "runs of zeros stay unallocated"
    assert seen == sorted(seen) and seen[-1] == len(data)
    assert images.read_image(ceph_admin, pool, "golden", 0, len(data)) == data


def test_an_import_with_a_wrong_sha256_leaves_no_image_behind(ceph_admin, ceph_pools):
    pool = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools)).pool

    with pytest.raises(ChecksumMismatch):
        transfer.import_image(
            ceph_admin, pool, "golden", iter([b"abc", b"def"]), expected_sha256="0" * 64
        )
    assert images.list_images(ceph_admin, pool) == []


# ---- users -----------------------------------------------------------------------------------


def test_a_user_for_pool_a_can_write_in_a_and_is_refused_in_b(ceph_cluster, ceph_admin, ceph_pools):
    pool_a = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools, "a")).pool
    pool_b = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools, "b")).pool
    user = ceph_pools.name("agent")
    key = users.ensure_rbd_user(ceph_admin, user, [pool_a])
    assert users.ensure_rbd_user(ceph_admin, user, [pool_a]) == key, "same key on a re-run"

    with ceph_cluster.connect(user, key) as agent:
        images.create_image(agent, pool_a, "disk", MiB)
        images.write_image(agent, pool_a, "disk", 0, b"mine")
        assert images.read_image(agent, pool_a, "disk", 0, 4) == b"mine"
        with pytest.raises(PermissionDenied):
            images.create_image(agent, pool_b, "disk", MiB)
    assert images.list_images(ceph_admin, pool_b) == []

    users.ensure_rbd_user(ceph_admin, user, [pool_a, pool_b])
    assert users.get_user(ceph_admin, user)["caps"]["osd"] == (
        f"profile rbd pool={pool_a}, profile rbd pool={pool_b}"
    )
    assert users.delete_user(ceph_admin, user)
    assert users.get_user(ceph_admin, user) is None


# ---- cluster ---------------------------------------------------------------------------------


def test_health_and_usage_come_back_with_numbers(ceph_cluster, ceph_admin, ceph_pools):
    pool = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools)).pool

    report = health.health(ceph_admin)
    assert report.status in ("HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR")
    capacity = health.capacity(ceph_admin)
    assert capacity.total_bytes > 0 and 0 < capacity.avail_bytes <= capacity.total_bytes
    assert pool in capacity.pools, "a new pool is listed even before the mgr reports it"

    images.create_image(ceph_admin, pool, "disk", 8 * MiB)
    images.write_image(ceph_admin, pool, "disk", 0, b"x" * MiB)

    def reported_with_data():
        usage = health.pool_usage(ceph_admin, pool)
        return usage if usage.reported and usage.stored_bytes >= MiB else None

    usage = wait_until(reported_with_data, timeout_s=30, what="the mgr to report pool usage")
    assert usage.max_avail_bytes > 0 and usage.objects > 0
    assert health.fsid(ceph_admin) == ceph_cluster.fsid


def test_operator_style_key_connection_works_from_worker_threads(ceph_cluster, ceph_pools):
    credentials = Credentials.from_key(
        ceph_cluster.mon_host, "client.admin", ceph_cluster.admin_key
    )

    async def both(cluster):
        return await asyncio.gather(
            asyncio.to_thread(health.fsid, cluster), asyncio.to_thread(health.health, cluster)
        )

    with connect(credentials) as cluster:
        fsid, report = asyncio.run(both(cluster))
    assert fsid == ceph_cluster.fsid and report.status.startswith("HEALTH_")


def test_an_unreachable_cluster_fails_fast_with_ceph_unavailable(ceph_cluster):
    nowhere = Credentials.from_key(f"[v2:127.0.0.1:{free_port()}]", "admin", ceph_cluster.admin_key)
    with pytest.raises(CephUnavailable), connect(nowhere, timeout_s=2):
        pass


def test_a_missing_conf_file_fails_with_ceph_unavailable(tmp_path):
    with pytest.raises(CephUnavailable), connect(Credentials.from_conf(tmp_path / "nope.conf")):
        pass


def test_a_fenced_client_can_no_longer_write(ceph_cluster, ceph_admin, ceph_pools):
    from kovirt.ceph import clients

    pool = pools.ensure_pools(ceph_admin, replicated_domain(ceph_pools)).pool
    images.create_image(ceph_admin, pool, "disk", MiB)
    with ceph_cluster.connect() as host:
        address = clients.own_address(host)
        images.write_image(host, pool, "disk", 0, b"before")
        clients.blocklist_add(ceph_admin, address, expire_s=600)
        try:
            assert address in clients.blocklisted(ceph_admin)
            with pytest.raises(Fenced):
                images.write_image(host, pool, "disk", 0, b"after!")
        finally:
            assert clients.blocklist_rm(ceph_admin, address)
    assert images.read_image(ceph_admin, pool, "disk", 0, 6) == b"before"
