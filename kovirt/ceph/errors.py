"""Ceph failures as kovirt exceptions, each with a machine-readable ``reason``.

The rados/rbd bindings raise their own classes (and mon commands return a bare errno); callers
above this package (the operator, the CLI) only ever see these.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from kovirt.errors import KovirtError


class CephError(KovirtError):
    """Any Ceph failure; ``errno`` is the binding's or mon's error number when there was one."""

    reason = "CephError"

    def __init__(self, message: str, *, reason: str | None = None, errno: int | None = None):
        super().__init__(message, reason=reason)
        self.errno = errno


class CephUnavailable(CephError):
    reason = "CephUnavailable"


class PoolNotFound(CephError):
    reason = "PoolNotFound"


class PoolNotEmpty(CephError):
    reason = "PoolNotEmpty"


class ImageNotFound(CephError):
    reason = "ImageNotFound"


class ImageExists(CephError):
    reason = "ImageExists"


class ImageBusy(CephError):
    """The image is open by a client, has snapshots, or has clones depending on it."""

    reason = "ImageBusy"


class SnapshotNotFound(CephError):
    reason = "SnapshotNotFound"


class PermissionDenied(CephError):
    reason = "PermissionDenied"


class NotOwnedByKovirt(CephError):
    """The pool exists but kovirt did not create it (or another owner did): hands off."""

    reason = "NotOwnedByKovirt"


class InvalidLayout(CephError):
    """A pool layout the cluster cannot hold, or one that would change an immutable property."""

    reason = "InvalidLayout"


class Fenced(CephError):
    """This client was blocklisted (fenced): it must stop using the cluster."""

    reason = "Fenced"


class ChecksumMismatch(CephError):
    reason = "ChecksumMismatch"


class QuotaExceeded(CephError):
    reason = "QuotaExceeded"


# errno -> exception class for mon command results and binding errors without a finer class.
_BY_ERRNO: dict[int, type[CephError]] = {
    errno.EPERM: PermissionDenied,
    errno.EACCES: PermissionDenied,
    errno.EBUSY: ImageBusy,
    errno.ETIMEDOUT: CephUnavailable,
    errno.EDQUOT: QuotaExceeded,
    # librados reports a blocklisted client as EBLOCKLISTED, which is ESHUTDOWN on Linux.
    errno.ESHUTDOWN: Fenced,
}


def from_errno(code: int, message: str) -> CephError:
    """A kovirt exception for a (positive or negative) errno with the mon's message."""
    code = abs(code)
    cls = _BY_ERRNO.get(code, CephError)
    name = errno.errorcode.get(code, str(code))
    return cls(f"{message} ({name})", errno=code)


def _binding_errno(error: Exception) -> int | None:
    value = getattr(error, "errno", None)
    return abs(value) if isinstance(value, int) else None


@contextmanager
def translated(what: str, *, not_found: type[CephError] = ImageNotFound) -> Iterator[None]:
    """Turn rados/rbd exceptions raised inside into kovirt ones; ``what`` names the object.

    ``not_found`` says what ENOENT means here (an image, a pool, a snapshot ...).
    """
    import rados
    import rbd

    try:
        yield
    except CephError:
        raise
    except (rbd.ImageNotFound, rados.ObjectNotFound) as error:
        raise not_found(f"{what}: not found", errno=errno.ENOENT) from error
    except rbd.ImageExists as error:
        raise ImageExists(f"{what}: already exists", errno=errno.EEXIST) from error
    except rbd.ImageHasSnapshots as error:
        raise ImageBusy(f"{what}: has snapshots", errno=errno.ENOTEMPTY) from error
    except rbd.ImageBusy as error:
        raise ImageBusy(
            f"{what}: in use (open by a client or has clones)", errno=errno.EBUSY
        ) from error
    except (rbd.PermissionError, rados.PermissionError, rados.PermissionDeniedError) as error:
        raise PermissionDenied(
            f"{what}: permission denied for this cephx user", errno=errno.EPERM
        ) from error
    except (rbd.DiskQuotaExceeded, rados.NoSpace, rbd.NoSpace) as error:
        raise QuotaExceeded(
            f"{what}: pool quota or cluster capacity exceeded", errno=_binding_errno(error)
        ) from error
    except (rados.TimedOut, rados.InterruptedOrTimeoutError) as error:
        message = f"{what}: timed out talking to Ceph"
        raise CephUnavailable(message, errno=errno.ETIMEDOUT) from error
    except (rbd.Error, rados.Error) as error:
        code = _binding_errno(error)
        if code is not None and code in _BY_ERRNO:
            raise from_errno(code, f"{what}: {error}") from error
        raise CephError(f"{what}: {error}", errno=code) from error
