"""The test guest on real RBD: boots from a copy-on-write clone of the golden disk image,
authenticated by a least-privilege cephx user whose key lives in a libvirt secret, and
writes its marker to a second RBD disk that reads back through librbd.
"""

from __future__ import annotations

import base64
import re
import time

import pytest

from kovirt.ceph import images, transfer, users
from kovirt.ceph.images import ImageRef
from kovirt.ceph.layout import PoolSpec, Replicated
from kovirt.ceph.pools import ensure_pools
from kovirt.domxml import Domain, Iotune, Secret, SecretUsage
from kovirt.guest import GuestArgs, read_marker
from kovirt.guest.domain import guest_domain, rbd_disk
from tests.fixtures.libvirt import wait_gone

pytestmark = [pytest.mark.libvirt, pytest.mark.ceph]

BOOT_TIMEOUT_S = 90
DATA_DISK_BYTES = 8 * 1024 * 1024


def monitors(mon_host: str) -> list[tuple[str, int]]:
    """`[v2:127.0.0.1:3300/0,v1:...]` -> [("127.0.0.1", 3300)]: the v2 addresses."""
    found = re.findall(r"v2:([0-9.]+):(\d+)", mon_host)
    if not found:
        found = re.findall(r"([0-9.]+):(\d+)", mon_host)
    return [(host, int(port)) for host, port in found]


@pytest.fixture
def rbd_guest_disks(ceph_admin, ceph_pools, test_guest):
    """A pool with the golden image (snapshotted, protected), a clone of it and a blank disk."""
    # One host in the local stack: replicas go to different OSDs, not hosts.
    layout = Replicated(size=3, failure_domain="osd")
    spec = PoolSpec(ceph_pools.name("vm"), owner=ceph_pools.owner, layout=layout)
    pool = ensure_pools(ceph_admin, spec).pool
    with open(test_guest.disk_image, "rb") as source:
        transfer.import_image(
            ceph_admin, pool, "golden", source, size_bytes=test_guest.disk_image.stat().st_size
        )
    images.create_snapshot(ceph_admin, pool, "golden", "base")
    images.protect_snapshot(ceph_admin, pool, "golden", "base")
    images.clone_image(ceph_admin, ImageRef(pool, "golden"), "base", ImageRef(pool, "vm-root"))
    images.create_image(ceph_admin, pool, "vm-data", DATA_DISK_BYTES)
    yield pool
    # The pool (and all in it) goes with ceph_pools' cleanup; the clone must go before it
    # is unprotected, which pool deletion does not need.


@pytest.fixture
def agent_secret(ceph_admin, ceph_pools, rbd_guest_disks, guests):
    """A cephx user with `profile rbd` on the test pool only, its key in a libvirt secret."""
    user = ceph_pools.name("agent")
    key = users.ensure_rbd_user(ceph_admin, user, [rbd_guest_disks])
    secret = Secret(
        description=f"cephx key of client.{user}",
        usage=SecretUsage(type="ceph", name=f"kovirt client.{user}"),
    )
    # libvirt stores the raw key bytes; the cephx key as printed is their base64.
    return user, guests.define_secret(secret, base64.b64decode(key))


def test_guest_boots_from_an_rbd_clone_and_its_marker_reads_back_through_rbd(
    libvirtd, ceph_cluster, ceph_admin, rbd_guest_disks, agent_secret, test_guest, guests
):
    pool = rbd_guest_disks
    user, secret_uuid = agent_secret
    mons = monitors(ceph_cluster.mon_host)
    iotune = Iotune(
        write_bytes_sec=50_000_000,
        write_bytes_sec_max=100_000_000,
        write_bytes_sec_max_length=10,
        total_iops_sec=2000,
    )
    name = guests.name("rbd")
    log = guests.serial_log(name)
    marker = f"rbd-{name}"
    auth = {"monitors": mons, "username": user, "secret_uuid": secret_uuid}
    domain = guest_domain(
        name,
        test_guest,
        domain_type=libvirtd.hypervisor,
        serial_log=log,
        disks=[
            rbd_disk(f"{pool}/vm-root", "vda", boot_order=1, **auth),
            rbd_disk(f"{pool}/vm-data", "vdb", iotune=iotune, **auth),
        ],
        args=GuestArgs(marker=marker),
    )
    started = time.monotonic()
    dom = guests.create(domain)

    live = Domain.parse_xml(dom.XMLDesc(0))
    data_disk = live.devices.disk("vdb")
    assert data_disk is not None and data_disk.iotune is not None
    assert data_disk.iotune.limits() == iotune.limits()
    assert data_disk.rbd_name == f"{pool}/vm-data"

    wait_gone(guests.conn, name, BOOT_TIMEOUT_S)
    seconds = time.monotonic() - started
    serial = log.read_text(errors="replace")
    assert f"KOVIRT-MARKER {marker}" in serial, serial
    assert read_marker(images.read_image(ceph_admin, pool, "vm-data", 0, 512)) == marker
    # The clone shares the golden image's data; only what the guest wrote is its own.
    assert images.parent_of(ceph_admin, pool, "vm-root") is not None
    print(f"RBD clone boot -> marker on RBD -> power off: {seconds:.1f}s ({libvirtd.hypervisor})")
