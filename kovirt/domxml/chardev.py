"""Serial port and console: the guest's text output, kept in a log file on the host."""

from __future__ import annotations

from pydantic_xml import attr, element

from kovirt.domxml.base import XmlModel
from kovirt.domxml.disk import Alias


class CharSource(XmlModel, tag="source"):
    """For `type='file'`: the file the guest's output is written to."""

    path: str | None = attr(default=None)
    append: str | None = attr(default=None)


class CharLog(XmlModel, tag="log"):
    """A copy of everything the guest writes, kept by virtlogd (works with `type='pty'`)."""

    file: str = attr()
    append: str | None = attr(default=None)


class TargetModel(XmlModel, tag="model"):
    name: str = attr()


class SerialTarget(XmlModel, tag="target"):
    type: str | None = attr(default=None)
    port: int | None = attr(default=None)
    model: TargetModel | None = element(default=None)


class Serial(XmlModel, tag="serial"):
    """`type='pty'` + `<log>` keeps `virsh console` and a log; `type='file'` only a file."""

    type: str = attr(default="pty")
    source: CharSource | None = element(default=None)
    log: CharLog | None = element(default=None)
    target: SerialTarget | None = element(default=None)
    alias: Alias | None = element(default=None)


class Console(XmlModel, tag="console"):
    type: str = attr(default="pty")
    source: CharSource | None = element(default=None)
    log: CharLog | None = element(default=None)
    target: SerialTarget | None = element(default=None)
    alias: Alias | None = element(default=None)
