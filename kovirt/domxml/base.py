"""The base every domain-XML class shares: one declaration serialises and parses both ways.

Why pydantic-xml: a class declares each element once and gets both `to_xml` and
`from_xml` (kubevirt's schema.go idea), with pydantic's validation on the values.
Parsing is tolerant on purpose: a live domain's XML carries many elements libvirt adds
(controllers, aliases, addresses, seclabels) that kovirt does not model; they are ignored,
and unknown children never fail a parse. Serialising omits every field left at None.
"""

from __future__ import annotations

from typing import Self

from pydantic_xml import BaseXmlModel


class XmlModel(BaseXmlModel, search_mode="unordered"):
    """A libvirt XML element. `format_xml()` and `parse_xml()` are the two directions."""

    def format_xml(self, *, pretty: bool = True) -> str:
        # exclude_none: an optional element or attribute left at None is absent, not empty.
        data = self.to_xml(exclude_none=True, pretty_print=pretty, encoding="unicode")
        return data if isinstance(data, str) else data.decode()

    @classmethod
    def parse_xml(cls, text: str | bytes) -> Self:
        return cls.from_xml(text.encode() if isinstance(text, str) else text)


class Flag(XmlModel):
    """An element whose presence is the whole meaning, such as `<acpi/>` or `<readonly/>`."""
