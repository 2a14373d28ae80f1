"""kovirt-libvirtd's decisions that need no libvirtd: config and when /dev/kvm goes."""

from __future__ import annotations

import json
import os

from kovirt.node_agent import libvirtd
from kovirt.node_agent.libvirtd import Settings


def settings(tmp_path, hypervisor: str) -> Settings:
    return Settings(
        hypervisor=hypervisor,
        state_dir=tmp_path / "state",
        config_dir=tmp_path / "etc",
        run_dir=tmp_path / "run",
        kvm_device=tmp_path / "kvm",
    )


def write_probe(s: Settings, mode: str, kernel: str | None = None) -> None:
    s.state_dir.mkdir(parents=True, exist_ok=True)
    probe = {"mode": mode, "kernel": kernel or os.uname().release, "reason": "hung"}
    s.probe_file.write_text(json.dumps(probe))


def test_the_config_keeps_qemu_out_of_cgroups_and_the_socket_to_root(tmp_path):
    s = settings(tmp_path, "auto")
    libvirtd.write_config(s)
    assert "cgroup_controllers = []" in (s.config_dir / "qemu.conf").read_text()
    assert 'unix_sock_rw_perms = "0770"' in (s.config_dir / "libvirtd.conf").read_text()


def test_kvm_is_hidden_when_asked_or_when_the_agents_probe_found_it_broken(tmp_path):
    assert libvirtd.emulation_wanted(settings(tmp_path, "qemu"))
    assert libvirtd.emulation_wanted(settings(tmp_path, "kvm")) is None
    auto = settings(tmp_path, "auto")
    assert libvirtd.emulation_wanted(auto) is None  # no probe yet: keep the device
    write_probe(auto, "kvm")
    assert libvirtd.emulation_wanted(auto) is None
    write_probe(auto, "qemu", kernel="another-kernel")  # stale: another kernel's probe
    assert libvirtd.emulation_wanted(auto) is None
    write_probe(auto, "qemu")
    assert "hung" in libvirtd.emulation_wanted(auto)


def test_hiding_kvm_removes_only_the_containers_node_once(tmp_path):
    s = settings(tmp_path, "qemu")
    s.kvm_device.write_text("")
    assert libvirtd.hide_kvm(s) is True
    assert libvirtd.hide_kvm(s) is False


def test_help_prints_the_why():
    assert libvirtd.main(["--help"]) == 0
