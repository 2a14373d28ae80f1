"""The private libvirtd: it starts, answers, reports versions and the hypervisor mode."""

from __future__ import annotations

import pytest

from kovirt.localstack.libvirt import LibvirtStack

pytestmark = pytest.mark.libvirt


def test_libvirtd_answers_on_our_own_socket_and_reports_versions(libvirtd):
    with libvirtd.connect() as conn:
        assert conn.getURI().startswith("qemu")
        assert conn.getLibVersion() > 0
    assert libvirtd.uri.startswith("qemu+unix:///system?socket=")
    assert str(libvirtd.stack.root) in libvirtd.uri
    assert libvirtd.libvirt_version.count(".") == 2
    assert libvirtd.qemu_version.count(".") == 2
    assert libvirtd.hypervisor in ("kvm", "qemu")


def test_up_twice_reuses_the_running_daemons(libvirtd):
    before = libvirtd.stack.status()
    after = libvirtd.stack.up(libvirtd.hypervisor)
    assert (after.libvirtd_pid, after.virtlogd_pid) == (before.libvirtd_pid, before.virtlogd_pid)


def test_auto_mode_is_probed_once_and_cached_for_this_host(libvirtd):
    probe = libvirtd.stack.cached_probe()
    if probe is None:
        pytest.fail("auto mode was overridden (KOVIRT_HYPERVISOR?): no probe was recorded")
    assert probe.mode == libvirtd.hypervisor
    assert probe.reason
    assert libvirtd.stack.hypervisor("auto") == probe.mode


def test_the_daemons_keep_their_state_out_of_the_system_paths(libvirtd):
    # Our libvirtd sees our overlay as /etc/libvirt: the qemu.conf it read is ours.
    pid = libvirtd.stack.libvirtd.pid()
    with open(f"/proc/{pid}/mountinfo") as mounts:
        ours = [
            line.split()[4]
            for line in mounts
            if str(libvirtd.stack.overlay) in line or "libvirt" in line.split()[4]
        ]
    for path in ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt"):
        assert path in ours


def test_a_second_private_instance_starts_and_stops_without_touching_the_first(libvirtd, tmp_path):
    other = LibvirtStack(tmp_path / "libvirt")
    state = other.up("qemu")
    try:
        assert state.running
        assert state.uri != libvirtd.uri
        with other.connect() as conn:
            assert conn.listAllDomains() == []
    finally:
        stopped = other.down()
    assert set(stopped) == {"libvirtd", "virtlogd"}
    assert not other.status().running
    assert libvirtd.stack.status().running
