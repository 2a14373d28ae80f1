"""`<sysinfo>`: data handed to the guest by firmware (SMBIOS strings, QEMU fw_cfg files)."""

from __future__ import annotations

from typing import Literal

from pydantic_xml import attr, element

from kovirt.domxml.base import XmlModel


class SysinfoEntry(XmlModel, tag="entry"):
    """One fw_cfg file: `name` must start with `opt/`; the text is its content."""

    name: str | None = attr(default=None)
    file: str | None = attr(default=None)
    value: str = ""


class Sysinfo(XmlModel, tag="sysinfo"):
    """Only the `fwcfg` flavour is modelled (a guest reads it under /sys/firmware)."""

    type: Literal["fwcfg", "smbios"] = attr(default="fwcfg")
    entries: list[SysinfoEntry] = element(default_factory=list)
