"""The agent's only door to libvirt: a connection class and a Guest class with verbs.

Like nova's guest.py, each verb logs the domain XML when libvirt refuses it, so a failed
start can be read without reproducing it. Everything here is blocking and thread-safe
enough for the agent's one reconcile thread plus a metrics read.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from kovirt.domxml import Domain, KovirtVm, Secret, SecretUsage
from kovirt.errors import KovirtError, MissingDependency
from kovirt.node_agent.config import DOMAIN_PREFIX

log = logging.getLogger(__name__)

# virDomainState and the shutoff reasons (libvirt-domain.h), by name.
STATES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}
SHUTOFF_REASONS = {
    0: "unknown",
    1: "shutdown",
    2: "destroyed",
    3: "crashed",
    4: "migrated",
    5: "saved",
    6: "failed",
    7: "from-snapshot",
    8: "daemon",
}
ACTIVE_STATES = frozenset({"running", "blocked", "paused", "shutdown", "pmsuspended"})


class LibvirtFailure(KovirtError):
    """A libvirt call failed; `reason` says whose fault it looks like (Ceph, libvirt)."""

    reason = "LibvirtError"


def import_libvirt() -> Any:
    """The libvirt binding, with its stderr printing silenced (errors still raise)."""
    try:
        import libvirt
    except ImportError as error:
        raise MissingDependency(
            "the libvirt Python binding is missing: apt-get install -y python3-libvirt "
            "(and create the venv with --system-site-packages)"
        ) from error
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def classify(message: str) -> str:
    """A reason for a failed start, read from libvirt's/QEMU's message.

    QEMU reports RBD trouble only as text: ENOENT opening the image is a missing image,
    EACCES/EPERM while connecting is a cephx identity or key Ceph refuses.
    """
    text = message.lower()
    if "rbd" in text or "ceph" in text or "error connecting" in text:
        if "no such file" in text or "not found" in text:
            return "ImageNotFound"
        if "permission denied" in text or "operation not permitted" in text:
            return "CephPermissionDenied"
        if "connection timed out" in text or "timed out" in text:
            return "CephUnavailable"
        return "CephError"
    if "permission denied" in text:
        return "PermissionDenied"
    return "LibvirtError"


def format_version(number: int) -> str:
    """libvirt encodes versions as major * 1,000,000 + minor * 1,000 + micro."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


@dataclass(frozen=True)
class DomainFacts:
    """What the reconciler needs to know about one kovirt-owned domain."""

    name: str
    owner: KovirtVm
    state: str
    reason: str  # the shutoff reason when shut off, else ""
    persistent: bool

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class Guest:
    """One libvirt domain with verbs; a failing verb logs the domain's XML."""

    def __init__(self, dom: Any, xml: str | None = None) -> None:
        self.dom = dom
        self.xml = xml

    @property
    def name(self) -> str:
        return self.dom.name()

    def _call(self, verb: str, *args: Any) -> Any:
        libvirt = import_libvirt()
        try:
            return getattr(self.dom, verb)(*args)
        except libvirt.libvirtError as error:
            xml = self.xml
            if xml is None:
                with contextlib.suppress(libvirt.libvirtError):
                    xml = self.dom.XMLDesc(0)
            log.error("libvirt %s of %s failed: %s\n%s", verb, self.name, error, xml)
            raise LibvirtFailure(str(error), reason=classify(str(error))) from error

    def start(self) -> None:
        self._call("create")

    def shutdown(self) -> None:
        """Ask the guest to power off (ACPI power button); it may ignore it."""
        self._call("shutdown")

    def destroy(self) -> None:
        libvirt = import_libvirt()
        try:
            self.dom.destroy()
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID:
                return  # not running: already what we want
            raise LibvirtFailure(str(error), reason=classify(str(error))) from error

    def undefine(self) -> None:
        libvirt = import_libvirt()
        try:
            self.dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return
            raise LibvirtFailure(str(error), reason=classify(str(error))) from error

    def state(self) -> tuple[str, str]:
        code, reason = self.dom.state()
        name = STATES.get(code, "nostate")
        return name, SHUTOFF_REASONS.get(reason, "unknown") if name == "shutoff" else ""

    def live_xml(self) -> str:
        return self._call("XMLDesc", 0)

    def block_stats(self, dev: str) -> dict[str, int]:
        """Counters of one disk: rd/wr operations, bytes and total time in ns."""
        return self._call("blockStatsFlags", dev, 0)


class Hypervisor:
    """A connection to libvirtd, with the agent's kovirt-owned view of its domains."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        libvirt = import_libvirt()
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as error:
            raise KovirtError(
                f"cannot connect to libvirt at {uri}: {error}", reason="LibvirtUnavailable"
            ) from error

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    # -- host facts -----------------------------------------------------------------------

    def versions(self) -> tuple[str, str]:
        """(libvirt version, QEMU version)."""
        return format_version(self.conn.getLibVersion()), format_version(self.conn.getVersion())

    def offers_kvm(self) -> bool:
        """Whether libvirtd can open KVM (its capabilities list a type='kvm' domain).

        Asked of libvirtd, not of this process: in the libvirt pod layout the agent's own
        container has no /dev/kvm."""
        return "<domain type='kvm'" in self.conn.getCapabilities()

    def cpus_and_memory(self) -> tuple[int, int]:
        """Host CPUs and memory in bytes, as libvirt sees them."""
        _model, memory_mib, cpus, *_ = self.conn.getInfo()
        return cpus, memory_mib * 1024 * 1024

    # -- domains ----------------------------------------------------------------------------

    def define(self, domain: Domain) -> Guest:
        """Define (or redefine) a persistent domain from the object model."""
        libvirt = import_libvirt()
        xml = domain.format_xml()
        try:
            return Guest(self.conn.defineXML(xml), xml)
        except libvirt.libvirtError as error:
            log.error("libvirt define of %s failed: %s\n%s", domain.name, error, xml)
            raise LibvirtFailure(str(error), reason=classify(str(error))) from error

    def create_transient(self, domain: Domain) -> Guest:
        libvirt = import_libvirt()
        xml = domain.format_xml()
        try:
            return Guest(self.conn.createXML(xml, 0), xml)
        except libvirt.libvirtError as error:
            log.error("libvirt create of %s failed: %s\n%s", domain.name, error, xml)
            raise LibvirtFailure(str(error), reason=classify(str(error))) from error

    def guest(self, name: str) -> Guest | None:
        libvirt = import_libvirt()
        try:
            return Guest(self.conn.lookupByName(name))
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def kovirt_domains(self) -> dict[str, DomainFacts]:
        """Domains kovirt owns: name prefix `kovirt-` AND kovirt metadata. Others are never
        touched (a test's or an admin's `kovirt-...` domain without our metadata included)."""
        libvirt = import_libvirt()
        found = {}
        for dom in self.conn.listAllDomains(0):
            try:
                name = dom.name()
                if not name.startswith(DOMAIN_PREFIX):
                    continue
                owner = owner_of(dom.XMLDesc(0))
                if owner is None:
                    continue
                guest = Guest(dom)
                state, reason = guest.state()
                found[name] = DomainFacts(name, owner, state, reason, bool(dom.isPersistent()))
            except libvirt.libvirtError:
                continue  # vanished between list and look: the next pass sees the truth
        return found

    # -- the cephx secret -------------------------------------------------------------------

    def ensure_ceph_secret(self, user: str, key: str) -> str:
        """A libvirt secret holding the agent's cephx key; returns its uuid (idempotent).

        Found by usage name, so a restarted agent reuses it; the value is set each time so
        a rotated key takes effect for guests started from now on.
        """
        libvirt = import_libvirt()
        usage = f"kovirt client.{user}"
        try:
            secret = self.conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_CEPH, usage)
        except libvirt.libvirtError:
            definition = Secret(
                description=f"cephx key of client.{user} (kovirt node agent)",
                usage=SecretUsage(type="ceph", name=usage),
            )
            secret = self.conn.secretDefineXML(definition.format_xml(), 0)
        # libvirt stores the raw key; a cephx key as printed is its base64.
        try:
            raw = base64.b64decode(key, validate=True)
        except ValueError as error:
            raise KovirtError("the cephx key is not base64", reason="InvalidCephKey") from error
        secret.setValue(raw, 0)
        return secret.UUIDString()


def owner_of(xml: str) -> KovirtVm | None:
    """The kovirt metadata of a domain's XML, or None when it carries none."""
    try:
        domain = Domain.parse_xml(xml)
    except Exception:  # a domain our model cannot read is not one we wrote
        return None
    return domain.metadata.kovirt if domain.metadata is not None else None
