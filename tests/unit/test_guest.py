"""The test-guest builder: initramfs archive, arguments, module order, boot disk layout."""

from __future__ import annotations

import gzip
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from kovirt.guest import GuestArgs, build_test_guest, cpio, marker_line, read_marker
from kovirt.guest.build import initramfs_entries
from kovirt.guest.disk import PARTITION_START_SECTOR, _mbr
from kovirt.guest.kernel import Kernel, module_paths, read_module


def make_kernel(tmp_path: Path, deps: dict[str, list[str]]) -> Kernel:
    modules_dir = tmp_path / "lib" / "modules" / "6.1.0-0-cloud-amd64"
    modules_dir.mkdir(parents=True)
    (modules_dir / "modules.dep").write_text(
        "".join(f"{mod}: {' '.join(d)}\n" for mod, d in deps.items())
    )
    return Kernel("6.1.0-0-cloud-amd64", tmp_path / "vmlinuz", modules_dir)


def test_modules_come_after_their_dependencies_each_once(tmp_path):
    kernel = make_kernel(
        tmp_path,
        {
            "kernel/drivers/virtio/virtio_ring.ko": [],
            "kernel/drivers/virtio/virtio.ko.xz": ["kernel/drivers/virtio/virtio_ring.ko"],
            "kernel/drivers/block/virtio_blk.ko": [
                "kernel/drivers/virtio/virtio.ko.xz",
                "kernel/drivers/virtio/virtio_ring.ko",
            ],
        },
    )
    paths = module_paths(kernel, ("virtio_blk", "virtio"))
    assert [p.name for p in paths] == ["virtio_ring.ko", "virtio.ko.xz", "virtio_blk.ko"]


def test_a_missing_module_fails_with_the_install_command(tmp_path):
    kernel = make_kernel(tmp_path, {"kernel/drivers/virtio/virtio_ring.ko": []})
    with pytest.raises(Exception, match="apt-get install -y linux-image-cloud-amd64"):
        module_paths(kernel, ("virtio_blk",))


def test_xz_compressed_modules_are_stored_decompressed(tmp_path):
    import lzma

    path = tmp_path / "virtio.ko.xz"
    path.write_bytes(lzma.compress(b"\x7fELF module"))
    assert read_module(path) == b"\x7fELF module"


def test_the_initramfs_unpacks_with_cpio_and_holds_init_busybox_and_console(tmp_path):
    entries = initramfs_entries(b"busybox-bytes", [("virtio.ko", b"elf")])
    archive = cpio.newc_archive(entries)
    listing = subprocess.run(
        ["cpio", "-t", "-v", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert " init\n" in listing
    assert " bin/busybox\n" in listing
    assert " lib/modules/virtio.ko\n" in listing
    console = next(line for line in listing.splitlines() if line.endswith("dev/console"))
    assert console.startswith("crw")
    assert stat.S_ISREG(next(e for e in entries if e.path == "init").mode)


def test_the_same_input_gives_the_same_initramfs_bytes():
    entries = initramfs_entries(b"bb", [("virtio.ko", b"elf")])
    assert cpio.gzipped(cpio.newc_archive(entries)) == cpio.gzipped(cpio.newc_archive(entries))
    assert gzip.decompress(cpio.gzipped(b"x")) == b"x"


def test_guest_args_become_kovirt_words():
    args = GuestArgs(mode="run", marker="m-1", disk="vdc", message="hi")
    assert args.words() == "kovirt.mode=run kovirt.disk=vdc kovirt.marker=m-1 kovirt.message=hi"


def test_a_marker_with_a_space_is_refused_because_the_kernel_would_split_it():
    with pytest.raises(ValueError):
        GuestArgs(marker="two words")


def test_a_marker_reads_back_from_the_sector_the_guest_writes():
    sector = marker_line("abc-1").ljust(512, b"\0")
    assert read_marker(sector) == "abc-1"
    assert read_marker(b"\0" * 512) is None


def test_the_mbr_has_one_active_fat16_partition_at_one_mebibyte():
    sector = _mbr(b"\xeb" * 440, partition_sectors=63488)
    assert sector[510:] == b"\x55\xaa"
    status, kind, start, count = struct.unpack("<B3xB3xII", sector[446:462])
    assert (status, kind, start, count) == (0x80, 0x0E, PARTITION_START_SECTOR, 63488)


def test_the_built_guest_is_reused_from_the_cache_for_the_same_content(tmp_path):
    first = build_test_guest(tmp_path)
    mtime = first.disk_image.stat().st_mtime_ns
    again = build_test_guest(tmp_path)
    assert again == first
    assert again.disk_image.stat().st_mtime_ns == mtime
    disk = first.disk_image.read_bytes()
    assert disk[510:512] == b"\x55\xaa"
    # The FAT partition holds the kernel, the initramfs and syslinux's loader.
    listing = subprocess.run(
        ["mdir", "-a", "-b", "-i", f"{first.disk_image}@@{PARTITION_START_SECTOR * 512}", "::/"],
        capture_output=True,
        text=True,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout.upper()
    for name in ("VMLINUZ", "INITRD.IMG", "SYSLINUX.CFG", "LDLINUX.SYS"):
        assert name in listing
