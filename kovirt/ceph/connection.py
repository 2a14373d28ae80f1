"""Connections to a Ceph cluster: credentials, the ``Cluster`` handle and its context managers.

A ``Cluster`` wraps one ``rados.Rados`` handle. librados is thread-safe and blocking, so the
operator opens one handle and calls this package's functions through ``asyncio.to_thread``;
short scripts and tests use ``connect(...)`` as a context manager. Like nova's ``RADOSClient``,
every context manager here closes what it opened even when opening fails half-way.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kovirt.ceph.errors import (
    CephError,
    CephUnavailable,
    PoolNotFound,
    from_errno,
    translated,
)
from kovirt.errors import MissingDependency

INSTALL_HINT = (
    "apt-get install -y python3-rados python3-rbd (and a venv with --system-site-packages)"
)


def _bindings():
    try:
        import rados
        import rbd
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise MissingDependency(f"the Ceph Python bindings are missing: {INSTALL_HINT}") from error
    return rados, rbd


@dataclass(frozen=True)
class Credentials:
    """Who connects and to which monitors.

    Either a conf file (+ optional keyring), as on the local stack, or mon addresses and a
    cephx key given as strings, as the operator reads them from a Kubernetes Secret: then no
    file is written anywhere.
    """

    user: str = "admin"  # cephx id without the "client." prefix
    mon_host: str | None = None
    key: str | None = None
    conf_path: Path | None = None
    keyring_path: Path | None = None

    @classmethod
    def from_conf(
        cls, conf_path: Path | str, user: str = "admin", keyring_path: Path | str | None = None
    ) -> Credentials:
        return cls(
            user=user,
            conf_path=Path(conf_path),
            keyring_path=Path(keyring_path) if keyring_path else None,
        )

    @classmethod
    def from_key(cls, mon_host: str, user: str, key: str) -> Credentials:
        return cls(user=_strip_client(user), mon_host=mon_host, key=key)

    def rados_options(self, timeout_s: float) -> dict[str, str]:
        """Options set on the handle; the timeouts make a dead cluster fail instead of hang."""
        options = {
            "client_mount_timeout": str(int(timeout_s)),
            "rados_mon_op_timeout": str(int(timeout_s)),
        }
        if self.mon_host:
            options["mon_host"] = self.mon_host
        if self.key:
            options["key"] = self.key
            # Never pick up a keyring from /etc/ceph when the key was given.
            options["keyring"] = ""
        if self.keyring_path:
            options["keyring"] = str(self.keyring_path)
        return options


def _strip_client(user: str) -> str:
    return user.removeprefix("client.")


class Cluster:
    """An open connection: admin commands as JSON, I/O contexts per pool."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    @classmethod
    def open(cls, credentials: Credentials, timeout_s: float = 10.0) -> Cluster:
        """Connect; the caller must ``close()`` (``connect`` does it for you)."""
        rados, _ = _bindings()
        kwargs: dict[str, Any] = {"rados_id": credentials.user}
        if credentials.conf_path is not None:
            kwargs["conffile"] = str(credentials.conf_path)
        try:
            handle = rados.Rados(**kwargs)
        except rados.Error as error:  # e.g. an unreadable conf file
            raise CephUnavailable(f"cannot set up a Ceph client: {error}") from error
        try:
            for name, value in credentials.rados_options(timeout_s).items():
                handle.conf_set(name, value)
            with translated("connecting to Ceph"):
                handle.connect(timeout=int(timeout_s))
        except BaseException as error:
            handle.shutdown()
            if isinstance(error, CephError) and not isinstance(error, CephUnavailable):
                raise
            if isinstance(error, rados.Error | CephUnavailable):
                where = credentials.mon_host or credentials.conf_path
                raise CephUnavailable(f"cannot connect to Ceph at {where}: {error}") from error
            raise
        return cls(handle)

    def close(self) -> None:
        self.handle.shutdown()

    @property
    def fsid(self) -> str:
        with translated("cluster fsid"):
            return self.handle.get_fsid()

    def mon_command(
        self,
        prefix: str,
        *,
        inbuf: bytes = b"",
        not_found: type[CephError] = CephError,
        **args: Any,
    ) -> Any:
        """Run one mon command (JSON in, JSON out); a non-zero result raises with the mon's text."""
        return self._command(self.handle.mon_command, prefix, inbuf, not_found, args)

    def mgr_command(
        self, prefix: str, *, not_found: type[CephError] = CephError, **args: Any
    ) -> Any:
        """Like ``mon_command`` for the commands the mgr serves (``df``, ``osd pool stats``)."""
        return self._command(self.handle.mgr_command, prefix, b"", not_found, args)

    def _command(self, send, prefix: str, inbuf: bytes, not_found, args: dict[str, Any]) -> Any:
        command = {"prefix": prefix, "format": "json", **args}
        with translated(f"ceph {prefix}"):
            ret, out, status = send(json.dumps(command), inbuf, timeout=30)
        if ret != 0:
            if abs(ret) == errno.ENOENT:
                raise not_found(f"ceph {prefix}: {status.strip()}", errno=errno.ENOENT)
            raise from_errno(ret, f"ceph {prefix}: {status.strip()}")
        text = out.decode() if isinstance(out, bytes) else out
        if not text.strip():
            return None
        # Some commands print text after the JSON (`osd blocklist ls` adds "listed N entries"
        # in Pacific), as rook notes for malformed output: decode the first JSON value only.
        value, _ = json.JSONDecoder().raw_decode(text.strip())
        return value

    def pool_exists(self, pool: str) -> bool:
        with translated(f"pool {pool}", not_found=PoolNotFound):
            return self.handle.pool_exists(pool)

    def wait_for_latest_osdmap(self) -> None:
        with translated("waiting for the latest OSD map"):
            self.handle.wait_for_latest_osdmap()

    @contextmanager
    def ioctx(self, pool: str, namespace: str | None = None) -> Iterator[Any]:
        """An I/O context on pool, closed on exit; a missing pool raises PoolNotFound."""
        with translated(f"pool {pool}", not_found=PoolNotFound):
            ctx = self.handle.open_ioctx(pool)
        try:
            if namespace:
                ctx.set_namespace(namespace)
            yield ctx
        finally:
            ctx.close()


@contextmanager
def connect(credentials: Credentials, timeout_s: float = 10.0) -> Iterator[Cluster]:
    """Open a Cluster for the block and close it on the way out, whatever happens."""
    cluster = Cluster.open(credentials, timeout_s)
    try:
        yield cluster
    finally:
        cluster.close()
