"""What our objects format is valid for libvirt's own RelaxNG schema (virt-xml-validate)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kovirt.domxml import Domain, Iotune, KovirtVm, Metadata, Secret, SecretUsage
from kovirt.guest import GuestArgs
from kovirt.guest.build import GuestArtifacts
from kovirt.guest.domain import file_disk, guest_domain, rbd_disk
from kovirt.localstack.libvirt import probe_domain

ARTIFACTS = GuestArtifacts(
    directory=Path("/g"),
    kernel=Path("/g/vmlinuz"),
    initramfs=Path("/g/initrd.img"),
    disk_image=Path("/g/disk.img"),
    kernel_version="6.1.0-0-cloud-amd64",
    key="0" * 16,
)
SECRET_UUID = "5c7a3b2e-1f4d-4e8a-9b6c-2d3e4f5a6b7c"


def validate(tmp_path: Path, kind: str, text: str) -> None:
    tool = shutil.which("virt-xml-validate")
    if tool is None:
        pytest.fail(
            "virt-xml-validate is missing: apt-get install -y libvirt-clients libxml2-utils"
        )
    path = tmp_path / f"{kind}.xml"
    path.write_text(text)
    result = subprocess.run([tool, str(path), kind], capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{text}"


def make_rbd_guest(boot: str) -> Domain:
    return guest_domain(
        "vm-rbd",
        ARTIFACTS,
        domain_type="qemu",
        serial_log=Path("/l/vm-rbd.log"),
        boot=boot,  # type: ignore[arg-type]
        args=GuestArgs(marker="m1"),
        uuid="0b7e4f1c-3a2d-4c5b-8e9f-1a2b3c4d5e6f",
        metadata=Metadata(kovirt=KovirtVm(uid="u", namespace="ns", name="vm", generation=1)),
        disks=[
            rbd_disk(
                "pool/root",
                "vda",
                monitors=[("127.0.0.1", 3300)],
                username="kovirt-agent",
                secret_uuid=SECRET_UUID,
                boot_order=1 if boot == "disk" else None,
                iotune=Iotune(
                    read_bytes_sec=1 << 20,
                    write_bytes_sec=1 << 19,
                    read_bytes_sec_max=1 << 22,
                    read_bytes_sec_max_length=10,
                    total_iops_sec=300,
                ),
            ),
            file_disk(Path("/d/data.img"), "vdb"),
        ],
    )


@pytest.mark.parametrize("boot", ["disk", "kernel"])
def test_a_test_guest_domain_with_rbd_disks_validates(tmp_path, boot):
    validate(tmp_path, "domain", make_rbd_guest(boot).format_xml())


def test_the_kvm_probe_domain_validates(tmp_path):
    validate(
        tmp_path, "domain", probe_domain("probe", Path("/k/vmlinuz"), Path("/l/p.log")).format_xml()
    )


def test_a_ceph_secret_validates(tmp_path):
    secret = Secret(uuid=SECRET_UUID, usage=SecretUsage(name="kovirt client.kovirt-agent"))
    validate(tmp_path, "secret", secret.format_xml())


def test_the_validator_rejects_what_libvirt_would(tmp_path):
    # Proof the check can fail: a disk without a target is not a valid domain.
    broken = make_rbd_guest("disk").format_xml().replace('<target dev="vda" bus="virtio"/>', "")
    with pytest.raises(AssertionError):
        validate(tmp_path, "domain", broken)
