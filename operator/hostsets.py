"""Which nodes a DataCenter's agents and libvirt pods may take: never another's.

A node runs one data center's agent and libvirt pod: two would share the per-node socket
folder and fight over the Host object named after the node. Node selectors are compared
as label sets, without listing nodes: two selectors are disjoint only when they give one
key different values (e.g. `kovirt.io/datacenter: east` vs `west`); anything else may
select a common node now or later. The older DataCenter keeps its hosts; the newer one
waits with condition HostsShared until the selectors are disjoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def disjoint(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return any(key in b and b[key] != value for key, value in a.items())


def first_sharing(
    name: str, created: str, selector: Mapping[str, str], others: Iterable[dict[str, Any]]
) -> str | None:
    """The name of an older DataCenter whose node selector may pick this one's nodes."""
    mine = (created, name)
    for other in others:
        meta = other["metadata"]
        if meta["name"] == name or meta.get("deletionTimestamp"):
            continue
        if (meta.get("creationTimestamp", ""), meta["name"]) > mine:
            continue  # the newer one waits, not us
        theirs = ((other.get("spec") or {}).get("hosts") or {}).get("nodeSelector") or {}
        if not disjoint(selector, theirs):
            return meta["name"]
    return None
