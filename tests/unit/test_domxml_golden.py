"""Golden round-trips: XML that libvirt 9.0 itself wrote parses into our objects and back.

LIBVIRT_DOMAIN is `virsh dumpxml` of a domain kovirt's test guest helpers defined
(RBD boot disk with cephx auth and iotune, user-mode NIC, logged serial console, fw_cfg
arguments, kovirt metadata); libvirt added the defaults (machine, cpu, controllers,
addresses, input, memballoon) that we do not model and that parsing must tolerate.
"""

from __future__ import annotations

from pathlib import Path

from kovirt.domxml import AuthSecret, DiskAuth, Domain, Iotune, KovirtVm

LIBVIRT_DOMAIN = """\
<domain type='qemu'>
  <name>golden</name>
  <uuid>0b7e4f1c-3a2d-4c5b-8e9f-1a2b3c4d5e6f</uuid>
  <metadata>
    <kovirt:vm xmlns:kovirt="https://kovirt.io/xmlns/domain/v1alpha1" uid="9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a" namespace="tenant-a" name="web-1" generation="4"/>
  </metadata>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <sysinfo type='fwcfg'>
    <entry name='opt/kovirt/args'>kovirt.mode=poweroff kovirt.disk=vdb kovirt.marker=x1</entry>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='writeback' discard='unmap'/>
      <auth username='kovirt-agent'>
        <secret type='ceph' uuid='5c7a3b2e-1f4d-4e8a-9b6c-2d3e4f5a6b7c'/>
      </auth>
      <source protocol='rbd' name='kovirt-data/vm-disk-0'>
        <host name='127.0.0.1' port='3300'/>
      </source>
      <target dev='vda' bus='virtio'/>
      <iotune>
        <total_iops_sec>500</total_iops_sec>
        <total_iops_sec_max>1000</total_iops_sec_max>
        <total_iops_sec_max_length>30</total_iops_sec_max_length>
      </iotune>
      <boot order='1'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pci-root'/>
    <interface type='user'>
      <mac address='52:54:00:c3:6b:71'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </interface>
    <serial type='pty'>
      <log file='/var/lib/kovirt/guests/golden.log' append='off'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <log file='/var/lib/kovirt/guests/golden.log' append='off'/>
      <target type='serial' port='0'/>
    </console>
    <input type='mouse' bus='ps2'/>
    <input type='keyboard' bus='ps2'/>
    <audio id='1' type='none'/>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""  # noqa: E501

# What our objects keep of it, formatted back: every modelled field, nothing invented.
MODELLED = """\
<domain type="qemu">
  <name>golden</name>
  <uuid>0b7e4f1c-3a2d-4c5b-8e9f-1a2b3c4d5e6f</uuid>
  <metadata>
    <kovirt:vm xmlns:kovirt="https://kovirt.io/xmlns/domain/v1alpha1" uid="9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a" namespace="tenant-a" name="web-1" generation="4"/>
  </metadata>
  <memory unit="KiB">131072</memory>
  <currentMemory unit="KiB">131072</currentMemory>
  <vcpu placement="static">1</vcpu>
  <sysinfo type="fwcfg">
    <entry name="opt/kovirt/args">kovirt.mode=poweroff kovirt.disk=vdb kovirt.marker=x1</entry>
  </sysinfo>
  <os>
    <type arch="x86_64" machine="pc-i440fx-7.2">hvm</type>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode="custom" match="exact" check="none">
    <model fallback="forbid">qemu64</model>
  </cpu>
  <clock offset="utc"/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type="network" device="disk">
      <driver name="qemu" type="raw" cache="writeback" discard="unmap"/>
      <auth username="kovirt-agent">
        <secret type="ceph" uuid="5c7a3b2e-1f4d-4e8a-9b6c-2d3e4f5a6b7c"/>
      </auth>
      <source protocol="rbd" name="kovirt-data/vm-disk-0">
        <host name="127.0.0.1" port="3300"/>
      </source>
      <target dev="vda" bus="virtio"/>
      <iotune>
        <total_iops_sec>500</total_iops_sec>
        <total_iops_sec_max>1000</total_iops_sec_max>
        <total_iops_sec_max_length>30</total_iops_sec_max_length>
      </iotune>
      <boot order="1"/>
    </disk>
    <interface type="user">
      <mac address="52:54:00:c3:6b:71"/>
      <model type="virtio"/>
    </interface>
    <serial type="pty">
      <log file="/var/lib/kovirt/guests/golden.log" append="off"/>
      <target type="isa-serial" port="0">
        <model name="isa-serial"/>
      </target>
    </serial>
    <console type="pty">
      <log file="/var/lib/kovirt/guests/golden.log" append="off"/>
      <target type="serial" port="0"/>
    </console>
  </devices>
</domain>
"""  # noqa: E501


def test_libvirts_own_domain_xml_parses_into_our_objects():
    domain = Domain.parse_xml(LIBVIRT_DOMAIN)
    assert domain.metadata is not None
    assert domain.metadata.kovirt == KovirtVm(
        uid="9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a", namespace="tenant-a", name="web-1", generation=4
    )
    disk = domain.devices.disk("vda")
    assert disk is not None
    assert disk.rbd_name == "kovirt-data/vm-disk-0"
    assert disk.effective_auth == DiskAuth(
        username="kovirt-agent", secret=AuthSecret(uuid="5c7a3b2e-1f4d-4e8a-9b6c-2d3e4f5a6b7c")
    )
    assert disk.iotune == Iotune(
        total_iops_sec=500, total_iops_sec_max=1000, total_iops_sec_max_length=30
    )
    assert domain.devices.serials[0].log is not None
    assert domain.os.type.machine == "pc-i440fx-7.2"


def test_libvirts_domain_xml_formats_back_to_exactly_the_modelled_subset():
    assert Domain.parse_xml(LIBVIRT_DOMAIN).format_xml() == MODELLED


def test_the_modelled_subset_round_trips_unchanged():
    once = Domain.parse_xml(MODELLED)
    assert once.format_xml() == MODELLED
    assert Domain.parse_xml(once.format_xml()) == once


def test_the_golden_xml_is_still_what_the_installed_libvirt_schema_accepts(tmp_path: Path):
    from tests.unit.test_domxml_validate import validate

    validate(tmp_path, "domain", LIBVIRT_DOMAIN)
    validate(tmp_path, "domain", MODELLED)
