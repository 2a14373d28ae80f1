"""The guest kernel and its virtio modules, taken from Debian's linux-image packages."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import MissingDependency

# Debian's cloud kernel builds virtio as modules (=m); these make a virtio disk appear,
# and qemu_fw_cfg lets the guest read per-VM arguments that libvirt passes by fw_cfg.
GUEST_MODULES = (
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_blk",
    "qemu_fw_cfg",
)
KERNEL_INSTALL_HINT = "apt-get install -y linux-image-cloud-amd64"


@dataclass(frozen=True)
class Kernel:
    version: str
    image: Path
    modules_dir: Path


def find_kernel(
    boot_dir: Path = Path("/boot"), modules_root: Path = Path("/lib/modules")
) -> Kernel:
    """The newest installed kernel that has the modules we load (the cloud kernel first)."""
    candidates = []
    for image in boot_dir.glob("vmlinuz-*"):
        version = image.name.removeprefix("vmlinuz-")
        modules_dir = modules_root / version
        if (modules_dir / "modules.dep").exists():
            candidates.append(Kernel(version, image, modules_dir))
    if not candidates:
        raise MissingDependency(f"no kernel with modules under {boot_dir}: {KERNEL_INSTALL_HINT}")
    # Prefer the cloud flavour (small, virtio-centric), then the newest version.
    candidates.sort(key=lambda k: ("cloud" in k.version, k.version))
    return candidates[-1]


def module_paths(kernel: Kernel, names: tuple[str, ...] = GUEST_MODULES) -> list[Path]:
    """The .ko files for `names` and their dependencies, in an order insmod accepts."""
    deps = _read_modules_dep(kernel.modules_dir / "modules.dep")
    by_name = {_module_name(path): path for path in deps}
    ordered: list[str] = []

    def visit(path: str) -> None:
        if path in ordered:
            return
        for dep in deps[path]:
            visit(dep)
        ordered.append(path)

    for name in names:
        if name not in by_name:
            raise MissingDependency(
                f"kernel {kernel.version} has no module {name} (is it built in, or another "
                f"flavour?); the test guest expects Debian's cloud kernel: {KERNEL_INSTALL_HINT}"
            )
        visit(by_name[name])
    return [kernel.modules_dir / rel for rel in ordered]


def read_module(path: Path) -> bytes:
    """A module's plain ELF bytes; busybox insmod cannot read compressed modules."""
    if path.name.endswith(".ko"):
        return path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(path.read_bytes())
    if path.name.endswith(".ko.zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise MissingDependency(f"{path.name} is zstd-compressed: apt-get install -y zstd")
        return subprocess.run([zstd, "-dc", str(path)], capture_output=True, check=True).stdout
    raise ValueError(f"unknown module format: {path}")


def _module_name(relative_path: str) -> str:
    base = relative_path.rsplit("/", 1)[-1]
    return base.split(".ko", 1)[0].replace("-", "_")


def _read_modules_dep(path: Path) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            module, rest = line.split(":", 1)
            deps[module.strip()] = rest.split()
    return deps
