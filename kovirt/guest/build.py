"""Build the test guest (kernel, initramfs, bootable disk) once per content, then reuse it.

The cache key is a hash of everything that goes in: the kernel, the module bytes, busybox,
the init script, syslinux and the builder's format version. Same inputs, same folder;
a new kernel package gives a new folder. The caller picks the cache root (the CLI and
the test fixtures pass `cache_dir("guest")`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import MissingDependency
from kovirt.guest import cpio
from kovirt.guest.disk import build_boot_disk, required_tools, syslinux_mbr
from kovirt.guest.init import INIT_SCRIPT, GuestArgs
from kovirt.guest.kernel import Kernel, find_kernel, module_paths, read_module

# Bump when the layout of what we build changes, so old cache entries are not reused.
BUILD_FORMAT = "kovirt-guest-3"
DISK_SIZE_MIB = 32
# Defaults baked into the disk image's boot entry; per-VM args come by fw_cfg.
BASE_CMDLINE = "console=ttyS0 panic=-1 quiet"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


@dataclass(frozen=True)
class GuestArtifacts:
    """The built test guest: direct-boot kernel + initramfs, and a bootable raw disk."""

    directory: Path
    kernel: Path
    initramfs: Path
    disk_image: Path
    kernel_version: str
    key: str

    def cmdline(self, args: GuestArgs | None = None) -> str:
        """Kernel command line for direct kernel boot with these guest arguments."""
        return f"{BASE_CMDLINE} {(args or GuestArgs()).words()}"

    def as_dict(self) -> dict[str, str]:
        return {
            "directory": str(self.directory),
            "kernel": str(self.kernel),
            "initramfs": str(self.initramfs),
            "disk_image": str(self.disk_image),
            "kernel_version": self.kernel_version,
            "key": self.key,
        }


def build_test_guest(cache_root: Path, *, force: bool = False) -> GuestArtifacts:
    """The test guest for this host's packages, built into cache_root/<key> if missing."""
    kernel = find_kernel()
    busybox = find_busybox()
    modules = [
        (path.name.split(".ko", 1)[0] + ".ko", read_module(path)) for path in module_paths(kernel)
    ]
    required_tools()
    key = _cache_key(kernel, busybox, modules)
    target = cache_root / key
    artifacts = _artifacts(target, kernel.version, key)
    if artifacts.disk_image.exists() and not force:
        return artifacts
    staging = cache_root / f".{key}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _build_into(staging, kernel, busybox, modules)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return artifacts


def _plain_name(module: Path) -> str:
    """`virtio.ko.xz` -> `virtio.ko`: modules are stored decompressed."""
    return module.name.split(".ko", 1)[0] + ".ko"


def find_busybox() -> Path:
    for path in BUSYBOX_CANDIDATES:
        if path.exists():
            return path
    raise MissingDependency("busybox not found: apt-get install -y busybox-static")


def initramfs_entries(busybox: bytes, modules: list[tuple[str, bytes]]) -> list[cpio.Entry]:
    """Everything in the initramfs: busybox, /init, the modules and their load order."""
    entries = [cpio.directory(d) for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "lib")]
    entries += [
        cpio.directory("etc/kovirt"),
        cpio.directory("lib/modules"),
        # The kernel opens /dev/console before /init runs: it must exist in the archive.
        cpio.char_device("dev/console", 5, 1),
        cpio.file("bin/busybox", busybox, 0o755),
        cpio.symlink("bin/sh", "busybox"),
        cpio.file("init", INIT_SCRIPT.encode(), 0o755),
        cpio.file("etc/kovirt/modules", "".join(f"{name}\n" for name, _ in modules).encode()),
    ]
    entries += [cpio.file(f"lib/modules/{name}", data) for name, data in modules]
    return entries


def _build_into(
    folder: Path, kernel: Kernel, busybox: Path, modules: list[tuple[str, bytes]]
) -> None:
    shutil.copyfile(kernel.image, folder / "vmlinuz")
    archive = cpio.newc_archive(initramfs_entries(busybox.read_bytes(), modules))
    (folder / "initrd.img").write_bytes(cpio.gzipped(archive))
    build_boot_disk(
        folder / "vmlinuz",
        folder / "initrd.img",
        f"{BASE_CMDLINE} {GuestArgs().words()}",
        folder / "disk.img",
        size_mib=DISK_SIZE_MIB,
    )
    manifest = {"format": BUILD_FORMAT, "kernel_version": kernel.version}
    manifest["modules"] = [name for name, _ in modules]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _artifacts(folder: Path, kernel_version: str, key: str) -> GuestArtifacts:
    return GuestArtifacts(
        directory=folder,
        kernel=folder / "vmlinuz",
        initramfs=folder / "initrd.img",
        disk_image=folder / "disk.img",
        kernel_version=kernel_version,
        key=key,
    )


def _cache_key(kernel: Kernel, busybox: Path, modules: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    parts = [
        BUILD_FORMAT.encode(),
        BASE_CMDLINE.encode(),
        str(DISK_SIZE_MIB).encode(),
        INIT_SCRIPT.encode(),
        kernel.image.read_bytes(),
        busybox.read_bytes(),
        syslinux_mbr().read_bytes(),
        Path(required_tools()["syslinux"]).read_bytes(),
    ]
    parts += [name.encode() + data for name, data in modules]
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]
