"""The agent's domain builder, one step at a time: object -> XML literal, and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from kovirt.api.v1alpha1 import VirtualMachine
from kovirt.domxml import Domain, Memory, Os, Vcpu
from kovirt.node_agent import builder
from kovirt.node_agent.builder import BuildError, HostFacts, build_domain

UID = "11111111-2222-3333-4444-555555555555"


def make_vm(*changes, status: dict | None = None, **spec) -> VirtualMachine:
    body = {
        "metadata": {"name": "web", "namespace": "demo", "uid": UID, "generation": 3},
        "spec": {"dataCenter": "dc1", **spec},
        "status": status or {},
    }
    for change in changes:
        change(body)
    return VirtualMachine.model_validate(body)


def with_disk(name: str, *, image: str | None = None, **disk):
    def change(body: dict) -> None:
        body["spec"].setdefault("disks", []).append(
            {"name": name, "storageDomain": "fast", "size": "1Gi", "source": {"blank": {}}, **disk}
        )
        if image:
            body["status"].setdefault("disks", []).append(
                {"name": name, "pool": "fast-pool", "image": image, "ready": True}
            )

    return change


def host(domain_type: str = "qemu", **extra) -> HostFacts:
    return HostFacts(
        domain_type=domain_type,
        monitors=[("10.0.0.1", 3300)],
        ceph_user="kovirt-agent-dc1",
        secret_uuid="aaaaaaaa-0000-0000-0000-000000000001",
        console_dir=Path("/var/lib/kovirt-agent/console"),
        **extra,
    )


def empty(name: str = "kovirt-demo-web") -> Domain:
    return Domain(name=name, memory=Memory(value=0), vcpu=Vcpu(value=1), os=Os())


def body_of(domain: Domain, tag: str) -> str:
    """The pretty XML of one top-level part, for literal comparison."""
    text = domain.format_xml()
    start = text.index(f"<{tag}")
    end = text.index(f"</{tag}>", start) + len(f"</{tag}>") if f"</{tag}>" in text else None
    return text[start:end] if end else text[start : text.index("\n", start)]


def test_identity_puts_the_cr_uid_in_uuid_and_kovirt_metadata():
    domain = empty()
    builder.set_identity(make_vm(), host(), domain)
    assert domain.type == "qemu" and domain.uuid == UID
    assert body_of(domain, "metadata") == (
        "<metadata>\n"
        '    <kovirt:vm xmlns:kovirt="https://kovirt.io/xmlns/domain/v1alpha1" '
        f'uid="{UID}" namespace="demo" name="web" generation="3"/>\n'
        "  </metadata>"
    )


def test_cpu_is_host_passthrough_under_kvm_and_absent_under_software_emulation():
    kvm, tcg = empty(), empty()
    builder.set_cpu(make_vm(cpus=4), host("kvm"), kvm)
    builder.set_cpu(make_vm(cpus=4), host("qemu"), tcg)
    assert kvm.vcpu.value == 4 and kvm.cpu.mode == "host-passthrough"
    assert tcg.vcpu.value == 4 and tcg.cpu is None


def test_memory_is_the_spec_quantity_in_kib():
    domain = empty()
    builder.set_memory(make_vm(memory="2Gi"), host(), domain)
    assert body_of(domain, "memory") == '<memory unit="KiB">2097152</memory>'


def test_machine_features_and_lifecycle_leave_restart_policy_to_the_agent():
    domain = empty()
    builder.set_machine_and_features(make_vm(machine="q35"), host(), domain)
    xml = domain.format_xml()
    assert '<type arch="x86_64" machine="q35">hvm</type>' in xml
    assert "<acpi/>" in xml
    assert "<on_poweroff>destroy</on_poweroff>" in xml
    assert "<on_crash>destroy</on_crash>" in xml


def test_uefi_is_refused_with_a_reason_until_it_is_supported():
    with pytest.raises(BuildError, match="uefi"):
        builder.set_machine_and_features(make_vm(firmware="uefi"), host(), empty())


def test_kernel_boot_sets_kernel_initrd_and_cmdline():
    vm = make_vm(kernelBoot={"kernel": "/k", "initrd": "/i", "cmdline": "console=ttyS0"})
    domain = empty()
    builder.set_kernel_boot(vm, host(), domain)
    assert (domain.os.kernel, domain.os.initrd, domain.os.cmdline) == ("/k", "/i", "console=ttyS0")


def test_an_rbd_disk_names_pool_image_monitors_and_the_agents_secret():
    vm = make_vm(with_disk("root", image="vm-root", bootOrder=2, cache="writeback"))
    domain = empty()
    builder.add_rbd_disks(vm, host(), domain)
    assert body_of(domain, "disk") == (
        '<disk type="network" device="disk">\n'
        '      <driver name="qemu" type="raw" cache="writeback" discard="unmap"/>\n'
        '      <auth username="kovirt-agent-dc1">\n'
        '        <secret type="ceph" uuid="aaaaaaaa-0000-0000-0000-000000000001"/>\n'
        "      </auth>\n"
        '      <source protocol="rbd" name="fast-pool/vm-root">\n'
        '        <host name="10.0.0.1" port="3300"/>\n'
        "      </source>\n"
        '      <target dev="vda" bus="virtio"/>\n'
        '      <boot order="2"/>\n'
        "      <serial>root</serial>\n"
        "    </disk>"
    )
    assert Domain.parse_xml(domain.format_xml()) == domain


def test_the_first_disk_boots_when_no_boot_order_is_asked_and_buses_count_separately():
    vm = make_vm(
        with_disk("a", image="ia"),
        with_disk("b", image="ib", bus="sata"),
        with_disk("c", image="ic"),
    )
    domain = empty()
    builder.add_rbd_disks(vm, host(), domain)
    assert [d.target.dev for d in domain.devices.disks] == ["vda", "sda", "vdb"]
    assert [d.boot.order if d.boot else None for d in domain.devices.disks] == [1, None, None]


def test_a_disk_without_an_image_yet_is_not_provisioned():
    with pytest.raises(BuildError) as caught:
        builder.add_rbd_disks(make_vm(with_disk("root")), host(), empty())
    assert caught.value.reason == "DiskNotProvisioned"


def test_disk_qos_wins_over_the_storage_domain_default_with_burst():
    qos = {
        "iopsPerSecond": {"read": 500, "write": 100},
        "burst": {"iopsPerSecond": {"write": 400}, "lengthSeconds": 30},
    }
    default = {"bytesPerSecond": {"total": 10_000_000}}
    from kovirt.api.v1alpha1 import QoS

    facts = host(domain_qos={"fast": QoS.model_validate(default)})
    vm = make_vm(with_disk("a", image="ia", qos=qos), with_disk("b", image="ib"))
    domain = empty()
    builder.add_rbd_disks(vm, facts, domain)
    a, b = domain.devices.disks
    assert a.iotune.limits() == {
        "read_iops_sec": 500,
        "write_iops_sec": 100,
        "write_iops_sec_max": 400,
        "write_iops_sec_max_length": 30,
    }
    assert b.iotune.limits() == {"total_bytes_sec": 10_000_000}


def test_no_qos_means_no_iotune_element():
    assert builder.iotune_from_qos(None) is None


def test_the_serial_console_is_a_pty_logged_under_the_state_folder():
    domain = empty()
    builder.add_serial_console(make_vm(), host(), domain)
    assert body_of(domain, "serial") == (
        '<serial type="pty">\n'
        '      <log file="/var/lib/kovirt-agent/console/kovirt-demo-web.log" append="on"/>\n'
        '      <target port="0"/>\n'
        "    </serial>"
    )


def test_each_network_is_a_user_mode_virtio_nic_with_a_stable_mac():
    vm = make_vm(networks=[{"name": "net0"}, {"name": "net1"}])
    first, again = empty(), empty()
    builder.add_nics(vm, host(), first)
    builder.add_nics(vm, host(), again)
    macs = [nic.mac.address for nic in first.devices.interfaces]
    assert macs == [nic.mac.address for nic in again.devices.interfaces]
    assert len(set(macs)) == 2 and all(m.startswith("52:54:00:") for m in macs)
    assert all(
        nic.type == "user" and nic.model.type == "virtio" for nic in first.devices.interfaces
    )


def test_bridge_networks_are_refused_until_supported():
    vm = make_vm(networks=[{"name": "br", "type": "bridge", "bridge": "br0"}])
    with pytest.raises(BuildError, match="bridge"):
        builder.add_nics(vm, host(), empty())


def test_guest_config_becomes_fw_cfg_files_under_opt_kovirt():
    domain = empty()
    builder.add_guest_config(make_vm(guestConfig={"args": "kovirt.mode=run"}), host(), domain)
    assert body_of(domain, "sysinfo") == (
        '<sysinfo type="fwcfg">\n'
        '    <entry name="opt/kovirt/args">kovirt.mode=run</entry>\n'
        "  </sysinfo>"
    )


def test_the_whole_domain_round_trips_through_xml():
    vm = make_vm(
        with_disk("root", image="vm-root"),
        networks=[{"name": "net0"}],
        guestConfig={"args": "kovirt.mode=run"},
        cpus=2,
    )
    domain = build_domain(vm, host("kvm"))
    assert domain.name == "kovirt-demo-web" and domain.type == "kvm"
    assert Domain.parse_xml(domain.format_xml()) == domain
