"""A libvirt secret: the object that holds a cephx key for RBD disks to name by uuid."""

from __future__ import annotations

from typing import Literal

from pydantic_xml import attr, element

from kovirt.domxml.base import XmlModel


class SecretUsage(XmlModel, tag="usage"):
    """`type='ceph'` with a name unique per host (libvirt refuses two secrets with one)."""

    type: str = attr(default="ceph")
    name: str = element()


class Secret(XmlModel, tag="secret"):
    """The secret's definition; the key itself is set with `secretSetValue`, never in XML."""

    ephemeral: Literal["yes", "no"] = attr(default="no")
    private: Literal["yes", "no"] = attr(default="yes")
    uuid: str | None = element(default=None)
    description: str | None = element(default=None)
    usage: SecretUsage = element()
