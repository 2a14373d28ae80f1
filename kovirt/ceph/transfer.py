"""Import a byte stream into a new RBD image: bounded memory, progress, sha256 check.

The stream is written under a temporary name and renamed only once complete and verified, so
an interrupted or corrupt import never leaves an image that looks finished. A retry removes a
stale temporary image first (a restarted operator leaks nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from kovirt.ceph.connection import Cluster
from kovirt.ceph.errors import CephError, ChecksumMismatch, ImageExists, translated
from kovirt.ceph.images import create_image, image_exists, open_image, remove_image

CHUNK_BYTES = 4 * 1024**2  # one default RBD object: whole-object writes, bounded memory
PARTIAL_SUFFIX = ".kovirt-partial"

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None if unknown)


@dataclass(frozen=True)
class ImportResult:
    size_bytes: int
    sha256: str
    written_bytes: int  # data actually stored; runs of zeros are skipped (thin image)


def partial_name(name: str) -> str:
    return f"{name}{PARTIAL_SUFFIX}"


def import_image(
    cluster: Cluster,
    pool: str,
    name: str,
    source: BinaryIO | Iterable[bytes],
    *,
    size_bytes: int | None = None,
    expected_sha256: str | None = None,
    data_pool: str | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ImportResult:
    """Stream ``source`` (a file object or an iterator of byte chunks) into ``pool/name``.

    ``size_bytes`` sizes the image up front when known (e.g. Content-Length); otherwise the
    image grows as data arrives. Raises ChecksumMismatch (and leaves nothing behind) when
    ``expected_sha256`` is given and differs.
    """
    if image_exists(cluster, pool, name):
        raise ImageExists(f"image {pool}/{name} already exists")
    temp = partial_name(name)
    remove_image(cluster, pool, temp)  # leftover of an interrupted import
    create_image(cluster, pool, temp, size_bytes or chunk_bytes, data_pool=data_pool)
    try:
        result = _copy(cluster, pool, temp, _chunks(source, chunk_bytes), size_bytes, progress)
        if expected_sha256 and result.sha256 != expected_sha256.lower():
            raise ChecksumMismatch(
                f"import into {pool}/{name}: sha256 {result.sha256} != expected {expected_sha256}"
            )
        _rename(cluster, pool, temp, name)
        return result
    except BaseException:
        _remove_quietly(cluster, pool, temp)
        raise


def _copy(
    cluster: Cluster,
    pool: str,
    name: str,
    chunks: Iterator[bytes],
    size_bytes: int | None,
    progress: Progress | None,
) -> ImportResult:
    digest = hashlib.sha256()
    offset = written = 0
    with open_image(cluster, pool, name) as image, translated(f"image {pool}/{name}"):
        capacity = image.size()
        for chunk in chunks:
            digest.update(chunk)
            end = offset + len(chunk)
            if end > capacity:
                # Unknown size: grow geometrically so resizes stay O(log n).
                capacity = max(end, capacity * 2)
                image.resize(capacity)
            if chunk.count(0) != len(chunk):  # all-zero chunks stay unallocated
                image.write(chunk, offset)
                written += len(chunk)
            offset = end
            if progress:
                progress(offset, size_bytes)
        if size_bytes is not None and offset != size_bytes:
            raise CephError(
                f"import into {pool}: the stream had {offset} bytes, {size_bytes} were announced",
                reason="SizeMismatch",
            )
        if capacity != offset:
            image.resize(offset)
        image.flush()
    return ImportResult(size_bytes=offset, sha256=digest.hexdigest(), written_bytes=written)


def _rename(cluster: Cluster, pool: str, old: str, new: str) -> None:
    import rbd

    with cluster.ioctx(pool) as ioctx, translated(f"image {pool}/{old}"):
        rbd.RBD().rename(ioctx, old, new)


def _chunks(source: BinaryIO | Iterable[bytes], chunk_bytes: int) -> Iterator[bytes]:
    """Fixed-size chunks from a file object, or re-cut chunks from an iterator."""
    if hasattr(source, "read"):
        while block := source.read(chunk_bytes):  # type: ignore[union-attr]
            yield block
        return
    pending = bytearray()
    for piece in source:  # type: ignore[union-attr]
        pending += piece
        while len(pending) >= chunk_bytes:
            yield bytes(pending[:chunk_bytes])
            del pending[:chunk_bytes]
    if pending:
        yield bytes(pending)


def _remove_quietly(cluster: Cluster, pool: str, name: str) -> None:
    """Cleanup after a failed import must not hide the original error (nova's rule)."""
    with contextlib.suppress(Exception):
        remove_image(cluster, pool, name)
