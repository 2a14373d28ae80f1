"""The test guest under our libvirtd, from local files (before any Ceph is involved)."""

from __future__ import annotations

import shutil
import time

import pytest

from kovirt.domxml import Domain, Iotune
from kovirt.guest import GuestArgs, read_marker
from kovirt.guest.domain import file_disk, guest_domain
from tests.fixtures.libvirt import wait_gone

pytestmark = pytest.mark.libvirt

BOOT_TIMEOUT_S = 60


def _blank(path, size_bytes=1024 * 1024):
    with open(path, "wb") as disk:
        disk.truncate(size_bytes)
    return path


def test_guest_boots_from_the_bootable_disk_image_writes_its_marker_and_powers_off(
    libvirtd, test_guest, guests, tmp_path
):
    root = tmp_path / "root.img"
    shutil.copyfile(test_guest.disk_image, root)
    data = _blank(tmp_path / "data.img")
    name = guests.name("disk")
    log = guests.serial_log(name)
    domain = guest_domain(
        name,
        test_guest,
        domain_type=libvirtd.hypervisor,
        serial_log=log,
        disks=[file_disk(root, "vda", boot_order=1), file_disk(data, "vdb")],
        args=GuestArgs(marker=f"m-{name}"),
    )
    started = time.monotonic()
    guests.create(domain)
    wait_gone(guests.conn, name, BOOT_TIMEOUT_S)
    seconds = time.monotonic() - started
    serial = log.read_text(errors="replace")
    assert f"KOVIRT-MARKER m-{name}" in serial
    assert "powering off" in serial
    assert read_marker(data.read_bytes()[:512]) == f"m-{name}"
    print(f"boot from disk image -> marker -> power off: {seconds:.1f}s ({libvirtd.hypervisor})")


def test_guest_boots_its_kernel_directly_and_keeps_running_when_asked(libvirtd, test_guest, guests):
    name = guests.name("run")
    log = guests.serial_log(name)
    domain = guest_domain(
        name,
        test_guest,
        domain_type=libvirtd.hypervisor,
        serial_log=log,
        disks=[],
        boot="kernel",
        args=GuestArgs(mode="run", message="still-here"),
    )
    dom = guests.create(domain)
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while "kovirt-guest: running" not in (log.read_text(errors="replace") if log.exists() else ""):
        assert time.monotonic() < deadline, f"no 'running' line in {log}"
        time.sleep(0.2)
    assert "kovirt-guest: message still-here" in log.read_text()
    time.sleep(1)
    assert dom.isActive()


def test_a_live_domain_carries_the_iotune_limits_it_was_given(
    libvirtd, test_guest, guests, tmp_path
):
    iotune = Iotune(
        total_bytes_sec=10_000_000,
        total_bytes_sec_max=20_000_000,
        total_bytes_sec_max_length=5,
        read_iops_sec=300,
        write_iops_sec=200,
        read_iops_sec_max=600,
        read_iops_sec_max_length=10,
    )
    data = file_disk(_blank(tmp_path / "data.img"), "vdb")
    data.iotune = iotune
    name = guests.name("iotune")
    domain = guest_domain(
        name,
        test_guest,
        domain_type=libvirtd.hypervisor,
        serial_log=guests.serial_log(name),
        disks=[data],
        boot="kernel",
        args=GuestArgs(mode="run"),
    )
    dom = guests.create(domain)
    live = Domain.parse_xml(dom.XMLDesc(0))
    assert live.id is not None
    live_disk = live.devices.disk("vdb")
    assert live_disk is not None and live_disk.iotune is not None
    assert live_disk.iotune.limits() == iotune.limits()
    # And QEMU itself enforces them: libvirt reads them back from the running process.
    params = dom.blockIoTune("vdb", 0)
    assert params["total_bytes_sec"] == 10_000_000
    assert params["read_iops_sec_max_length"] == 10
