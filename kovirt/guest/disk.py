"""A BIOS-bootable raw disk image holding the guest kernel and initramfs, built unmounted.

Layout: an MBR (syslinux's mbr.bin) with one bootable FAT16 partition at 1 MiB, which
`mkfs.fat` creates as a file, `mcopy` fills and the mtools-based `syslinux` installer
makes bootable. Nothing is mounted, so no root or loop devices are needed. This is what a
DiskImage golden image is: import it into RBD and any clone of it boots.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from kovirt.errors import KovirtError, MissingDependency

SECTOR = 512
PARTITION_START_SECTOR = 2048  # 1 MiB, the usual alignment
FAT16_LBA = 0x0E
MBR_CANDIDATES = (Path("/usr/lib/syslinux/mbr/mbr.bin"), Path("/usr/share/syslinux/mbr.bin"))
TOOLS_HINT = "apt-get install -y syslinux syslinux-common mtools dosfstools"


def syslinux_mbr() -> Path:
    for path in MBR_CANDIDATES:
        if path.exists():
            return path
    raise MissingDependency(f"syslinux's mbr.bin not found: {TOOLS_HINT}")


def required_tools() -> dict[str, str]:
    tools = {}
    for name in ("mkfs.fat", "mcopy", "syslinux"):
        path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if path is None:
            raise MissingDependency(f"{name} not found: {TOOLS_HINT}")
        tools[name] = path
    return tools


def syslinux_cfg(append: str) -> str:
    # SERIAL first so syslinux itself talks on ttyS0; no prompt, no timeout: boot at once.
    return (
        "SERIAL 0 115200\n"
        "DEFAULT kovirt\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL kovirt\n"
        "  LINUX /vmlinuz\n"
        "  INITRD /initrd.img\n"
        f"  APPEND {append}\n"
    )


def build_boot_disk(
    kernel: Path, initramfs: Path, append: str, out: Path, size_mib: int = 32
) -> Path:
    """Write a bootable raw image of size_mib to `out`; return `out`."""
    tools = required_tools()
    mbr_code = syslinux_mbr().read_bytes()[:440]
    partition_sectors = size_mib * 1024 * 1024 // SECTOR - PARTITION_START_SECTOR
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        part = Path(tmp) / "part.img"
        cfg = Path(tmp) / "syslinux.cfg"
        cfg.write_text(syslinux_cfg(append))
        _run(
            [tools["mkfs.fat"], "-F", "16", "-n", "KOVIRT", "-i", "6b6f7669",
             "-h", str(PARTITION_START_SECTOR), "-C", str(part), str(partition_sectors // 2)]
        )  # fmt: skip
        env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
        for source, name in ((kernel, "vmlinuz"), (initramfs, "initrd.img"), (cfg, "syslinux.cfg")):
            _run([tools["mcopy"], "-i", str(part), str(source), f"::/{name}"], env=env)
        _run([tools["syslinux"], "--install", str(part)], env=env)
        with open(out, "wb") as disk:
            disk.write(_mbr(mbr_code, partition_sectors))
            disk.seek(PARTITION_START_SECTOR * SECTOR)
            with open(part, "rb") as src:
                shutil.copyfileobj(src, disk, 1024 * 1024)
            disk.truncate(size_mib * 1024 * 1024)
    return out


def _mbr(boot_code: bytes, partition_sectors: int) -> bytes:
    """Boot code, a disk signature, one active FAT16-LBA partition entry, 0x55AA."""
    # CHS fields are the "use LBA" placeholders (0xFE, 0xFF, 0xFF) every BIOS accepts.
    entry = struct.pack(
        "<B3sB3sII",
        0x80,
        b"\xfe\xff\xff",
        FAT16_LBA,
        b"\xfe\xff\xff",
        PARTITION_START_SECTOR,
        partition_sectors,
    )
    sector = bytearray(SECTOR)
    sector[: len(boot_code)] = boot_code
    sector[440:444] = b"kovi"  # disk signature
    sector[446 : 446 + 16] = entry
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise KovirtError(
            f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}",
            reason="GuestBuildFailed",
        )
