"""`<disk>`: RBD network disks (and local files for tests), with driver, auth and iotune."""

from __future__ import annotations

from typing import Literal

from pydantic_xml import attr, element

from kovirt.domxml.base import Flag, XmlModel


class DiskDriver(XmlModel, tag="driver"):
    """QEMU's block driver settings: format, cache mode, discard, I/O mode."""

    name: str = attr(default="qemu")
    type: str = attr(default="raw")
    cache: Literal["none", "writethrough", "writeback", "directsync", "unsafe"] | None = attr(
        default=None
    )
    discard: Literal["unmap", "ignore"] | None = attr(default=None)
    io: Literal["native", "threads", "io_uring"] | None = attr(default=None)


class SourceHost(XmlModel, tag="host"):
    """One Ceph monitor of an RBD source."""

    name: str = attr()
    port: int | None = attr(default=None)


class AuthSecret(XmlModel, tag="secret"):
    """The libvirt secret that holds the cephx key, by uuid (or usage name)."""

    type: str = attr(default="ceph")
    uuid: str | None = attr(default=None)
    usage: str | None = attr(default=None)


class DiskAuth(XmlModel, tag="auth"):
    """cephx identity (without the `client.` prefix) and the secret holding its key."""

    username: str = attr()
    secret: AuthSecret = element()


class DiskSource(XmlModel, tag="source"):
    """Where the disk's data is: `protocol='rbd' name='pool/image'` + monitors, or a file."""

    protocol: str | None = attr(default=None)
    name: str | None = attr(default=None)
    file: str | None = attr(default=None)
    dev: str | None = attr(default=None)
    hosts: list[SourceHost] = element(default_factory=list)
    # libvirt >= 3.9 also accepts <auth> inside <source> and formats it back where it was
    # read; parse both places so a live domain's XML always yields its auth.
    auth: DiskAuth | None = element(default=None)


class DiskTarget(XmlModel, tag="target"):
    dev: str = attr()
    bus: str | None = attr(default=None)


class Iotune(XmlModel, tag="iotune"):
    """Per-disk I/O limits enforced by QEMU's throttling; `_max` is burst, for `_max_length` s.

    libvirt refuses `total_*` together with `read_*`/`write_*` of the same kind; that rule is
    policy for the builder, the model only carries values.
    """

    total_bytes_sec: int | None = element(default=None)
    read_bytes_sec: int | None = element(default=None)
    write_bytes_sec: int | None = element(default=None)
    total_iops_sec: int | None = element(default=None)
    read_iops_sec: int | None = element(default=None)
    write_iops_sec: int | None = element(default=None)
    total_bytes_sec_max: int | None = element(default=None)
    read_bytes_sec_max: int | None = element(default=None)
    write_bytes_sec_max: int | None = element(default=None)
    total_iops_sec_max: int | None = element(default=None)
    read_iops_sec_max: int | None = element(default=None)
    write_iops_sec_max: int | None = element(default=None)
    total_bytes_sec_max_length: int | None = element(default=None)
    read_bytes_sec_max_length: int | None = element(default=None)
    write_bytes_sec_max_length: int | None = element(default=None)
    total_iops_sec_max_length: int | None = element(default=None)
    read_iops_sec_max_length: int | None = element(default=None)
    write_iops_sec_max_length: int | None = element(default=None)
    group_name: str | None = element(default=None)

    def limits(self) -> dict[str, int]:
        """The limits that are set, by libvirt's name (zero means unlimited in libvirt)."""
        return {
            key: value
            for key, value in self.model_dump(exclude={"group_name"}).items()
            if value is not None and value != 0
        }


class BootOrder(XmlModel, tag="boot"):
    order: int = attr()


class Alias(XmlModel, tag="alias"):
    """The device name libvirt assigns (or `ua-...` user aliases); read from live XML."""

    name: str = attr()


class Disk(XmlModel, tag="disk"):
    type: Literal["network", "file", "block"] = attr(default="network")
    device: Literal["disk", "cdrom", "lun"] = attr(default="disk")
    driver: DiskDriver | None = element(default=None)
    auth: DiskAuth | None = element(default=None)
    source: DiskSource | None = element(default=None)
    target: DiskTarget = element()
    iotune: Iotune | None = element(default=None)
    boot: BootOrder | None = element(default=None)
    readonly: Flag | None = element(tag="readonly", default=None)
    serial: str | None = element(default=None)
    alias: Alias | None = element(default=None)

    @property
    def rbd_name(self) -> str | None:
        """`pool/image` when this is an RBD disk."""
        if self.source is not None and self.source.protocol == "rbd":
            return self.source.name
        return None

    @property
    def effective_auth(self) -> DiskAuth | None:
        """The auth, wherever libvirt put it (disk level or inside source)."""
        if self.auth is not None:
            return self.auth
        return self.source.auth if self.source is not None else None
