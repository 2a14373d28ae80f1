"""Domain XML objects: object -> literal XML, and XML -> object (nova's test_config style)."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from kovirt.domxml import (
    AuthSecret,
    BootOrder,
    CharLog,
    Console,
    Devices,
    Disk,
    DiskAuth,
    DiskDriver,
    DiskSource,
    DiskTarget,
    Domain,
    Features,
    Flag,
    Interface,
    InterfaceModel,
    Iotune,
    KovirtVm,
    Memory,
    Metadata,
    Os,
    Secret,
    SecretUsage,
    Serial,
    SerialTarget,
    SourceHost,
    Sysinfo,
    SysinfoEntry,
    Vcpu,
)

SECRET_UUID = "5c7a3b2e-0000-4000-8000-000000000001"


def xml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def make_rbd_disk(**changes) -> Disk:
    disk = Disk(
        type="network",
        driver=DiskDriver(cache="writeback", discard="unmap", io="threads"),
        auth=DiskAuth(
            username="kovirt-agent", secret=AuthSecret(uuid="5c7a3b2e-0000-4000-8000-000000000001")
        ),
        source=DiskSource(
            protocol="rbd",
            name="pool-a/vm-disk-0",
            hosts=[SourceHost(name="10.0.0.1", port=3300), SourceHost(name="10.0.0.2", port=3300)],
        ),
        target=DiskTarget(dev="vda", bus="virtio"),
        boot=BootOrder(order=1),
    )
    return disk.model_copy(update=changes)


def test_an_rbd_disk_formats_as_a_network_disk_with_monitors_and_cephx_auth():
    assert make_rbd_disk().format_xml() == xml(
        """
        <disk type="network" device="disk">
          <driver name="qemu" type="raw" cache="writeback" discard="unmap" io="threads"/>
          <auth username="kovirt-agent">
            <secret type="ceph" uuid="5c7a3b2e-0000-4000-8000-000000000001"/>
          </auth>
          <source protocol="rbd" name="pool-a/vm-disk-0">
            <host name="10.0.0.1" port="3300"/>
            <host name="10.0.0.2" port="3300"/>
          </source>
          <target dev="vda" bus="virtio"/>
          <boot order="1"/>
        </disk>
        """
    )


def test_iotune_formats_only_the_limits_that_are_set_including_burst():
    iotune = Iotune(total_iops_sec=500, total_iops_sec_max=1000, total_iops_sec_max_length=30)
    assert iotune.format_xml() == xml(
        """
        <iotune>
          <total_iops_sec>500</total_iops_sec>
          <total_iops_sec_max>1000</total_iops_sec_max>
          <total_iops_sec_max_length>30</total_iops_sec_max_length>
        </iotune>
        """
    )


def test_iotune_limits_leave_out_zero_which_libvirt_reports_for_unlimited():
    iotune = Iotune(read_bytes_sec=1000, write_bytes_sec=0, total_iops_sec=None)
    assert iotune.limits() == {"read_bytes_sec": 1000}


def test_kovirt_metadata_lives_in_its_own_namespace():
    metadata = Metadata(kovirt=KovirtVm(uid="u-1", namespace="ns", name="vm", generation=7))
    assert metadata.format_xml() == xml(
        """
        <metadata>
          <kovirt:vm xmlns:kovirt="https://kovirt.io/xmlns/domain/v1alpha1" uid="u-1" namespace="ns" name="vm" generation="7"/>
        </metadata>
        """  # noqa: E501
    )


def test_metadata_of_other_tools_is_ignored_when_parsing():
    parsed = Metadata.parse_xml(
        '<metadata><other:x xmlns:other="urn:other"/>'
        '<kovirt:vm xmlns:kovirt="https://kovirt.io/xmlns/domain/v1alpha1" uid="u" '
        'namespace="n" name="v" generation="2"/></metadata>'
    )
    assert parsed.kovirt == KovirtVm(uid="u", namespace="n", name="v", generation=2)


def test_a_domain_with_direct_kernel_boot_formats_to_the_expected_xml():
    domain = Domain(
        type="qemu",
        name="vm-a",
        uuid="0b7e4f1c-3a2d-4c5b-8e9f-1a2b3c4d5e6f",
        memory=Memory.mib(128),
        vcpu=Vcpu(value=2),
        os=Os(kernel="/k/vmlinuz", initrd="/k/initrd.img", cmdline="console=ttyS0"),
        features=Features(acpi=Flag()),
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        devices=Devices(
            interfaces=[Interface(type="user", model=InterfaceModel(type="virtio"))],
            serials=[
                Serial(type="pty", log=CharLog(file="/l/vm-a.log"), target=SerialTarget(port=0))
            ],
            consoles=[Console(type="pty", target=SerialTarget(type="serial", port=0))],
        ),
    )
    assert domain.format_xml() == xml(
        """
        <domain type="qemu">
          <name>vm-a</name>
          <uuid>0b7e4f1c-3a2d-4c5b-8e9f-1a2b3c4d5e6f</uuid>
          <memory unit="KiB">131072</memory>
          <vcpu>2</vcpu>
          <os>
            <type>hvm</type>
            <kernel>/k/vmlinuz</kernel>
            <initrd>/k/initrd.img</initrd>
            <cmdline>console=ttyS0</cmdline>
          </os>
          <features>
            <acpi/>
          </features>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>restart</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <interface type="user">
              <model type="virtio"/>
            </interface>
            <serial type="pty">
              <log file="/l/vm-a.log"/>
              <target port="0"/>
            </serial>
            <console type="pty">
              <target type="serial" port="0"/>
            </console>
          </devices>
        </domain>
        """
    )


def test_fw_cfg_sysinfo_entries_format_with_their_text():
    sysinfo = Sysinfo(entries=[SysinfoEntry(name="opt/kovirt/args", value="kovirt.mode=run")])
    assert sysinfo.format_xml() == xml(
        """
        <sysinfo type="fwcfg">
          <entry name="opt/kovirt/args">kovirt.mode=run</entry>
        </sysinfo>
        """
    )


def test_a_ceph_secret_formats_without_its_value():
    secret = Secret(
        uuid="5c7a3b2e-0000-4000-8000-000000000001",
        description="cephx key of client.kovirt-agent",
        usage=SecretUsage(type="ceph", name="kovirt client.kovirt-agent"),
    )
    assert secret.format_xml() == xml(
        """
        <secret ephemeral="no" private="yes">
          <uuid>5c7a3b2e-0000-4000-8000-000000000001</uuid>
          <description>cephx key of client.kovirt-agent</description>
          <usage type="ceph">
            <name>kovirt client.kovirt-agent</name>
          </usage>
        </secret>
        """
    )


def test_an_rbd_disk_parses_back_into_the_same_object():
    disk = make_rbd_disk(iotune=Iotune(read_bytes_sec=1, write_iops_sec_max=9))
    assert Disk.parse_xml(disk.format_xml()) == disk


def test_auth_inside_source_is_found_as_the_effective_auth():
    disk = Disk.parse_xml(
        "<disk type='network' device='disk'><source protocol='rbd' name='p/i'>"
        "<host name='m1'/><auth username='u'><secret type='ceph' uuid='x'/></auth></source>"
        "<target dev='vdb' bus='virtio'/></disk>"
    )
    assert disk.auth is None
    assert disk.effective_auth == DiskAuth(username="u", secret=AuthSecret(uuid="x"))
    assert disk.rbd_name == "p/i"


def test_elements_in_any_order_and_unknown_elements_still_parse():
    disk = Disk.parse_xml(
        "<disk type='file' device='disk'><address type='pci' slot='0x03'/>"
        "<target dev='vdc' bus='virtio'/><alias name='virtio-disk2'/>"
        "<source file='/x.img'/><driver name='qemu' type='raw'/></disk>"
    )
    assert disk.target.dev == "vdc"
    assert disk.source == DiskSource(file="/x.img")
    assert disk.alias is not None and disk.alias.name == "virtio-disk2"


def test_a_value_libvirt_does_not_know_is_refused():
    with pytest.raises(ValidationError):
        DiskDriver(cache="sometimes")


def test_memory_units_convert_to_kib():
    assert Memory.mib(2).kib == 2048
    assert Memory(unit="GiB", value=1).kib == 1024 * 1024
