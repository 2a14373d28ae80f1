"""`<interface>`: user-mode networking (no host setup), virtio model."""

from __future__ import annotations

from pydantic_xml import attr, element

from kovirt.domxml.base import XmlModel
from kovirt.domxml.disk import Alias


class MacAddress(XmlModel, tag="mac"):
    address: str = attr()


class InterfaceModel(XmlModel, tag="model"):
    type: str = attr(default="virtio")


class InterfaceSource(XmlModel, tag="source"):
    """For bridge/network interfaces (later); user-mode has none."""

    bridge: str | None = attr(default=None)
    network: str | None = attr(default=None)


class Interface(XmlModel, tag="interface"):
    type: str = attr(default="user")
    mac: MacAddress | None = element(default=None)
    source: InterfaceSource | None = element(default=None)
    model: InterfaceModel | None = element(default=None)
    alias: Alias | None = element(default=None)
