"""kovirt's own element in the domain `<metadata>`: which custom resource a domain is.

The CR uid tells a stale domain from a new VirtualMachine of the same name (kubevirt keeps
its uid there for the same reason); the generation says which spec the domain was built
from. libvirt requires custom metadata to live in a namespace of its own.
"""

from __future__ import annotations

from pydantic_xml import attr, element

from kovirt.domxml.base import XmlModel

KOVIRT_XMLNS = "https://kovirt.io/xmlns/domain/v1alpha1"
KOVIRT_XMLNS_PREFIX = "kovirt"


class KovirtVm(
    XmlModel, tag="vm", ns=KOVIRT_XMLNS_PREFIX, nsmap={KOVIRT_XMLNS_PREFIX: KOVIRT_XMLNS}
):
    """`<kovirt:vm uid=... namespace=... name=... generation=.../>`."""

    uid: str = attr()
    namespace: str = attr()
    name: str = attr()
    generation: int = attr()


class Metadata(XmlModel, tag="metadata"):
    kovirt: KovirtVm | None = element(default=None)
