"""A tiny writer for the `newc` cpio format the kernel unpacks as an initramfs.

Written in Python rather than with cpio(1) so that device nodes (`/dev/console`) can be
included without root and the archive is byte-for-byte reproducible (fixed mtimes and
inode numbers), which keeps the content-addressed cache stable.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(path, stat.S_IFCHR | perm, rdev=(major, minor))


def newc_archive(entries: list[Entry]) -> bytes:
    """The archive bytes, entries in the given order, ending with the TRAILER!!! record."""
    out = bytearray()
    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.path.lstrip("/").encode() + b"\0"
        fields = (
            ino if entry.path != "TRAILER!!!" else 0,
            entry.mode,
            0,  # uid
            0,  # gid
            2 if stat.S_ISDIR(entry.mode) else 1,  # nlink
            0,  # mtime: fixed, for reproducible archives
            len(entry.data),
            0,  # devmajor
            0,  # devminor
            entry.rdev[0],
            entry.rdev[1],
            len(name),
            0,  # check
        )
        out += b"070701" + b"".join(b"%08X" % value for value in fields)
        out += name
        out += b"\0" * (-len(out) % 4)
        out += entry.data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def gzipped(data: bytes) -> bytes:
    # mtime=0: the same input gives the same bytes.
    return gzip.compress(data, compresslevel=6, mtime=0)
