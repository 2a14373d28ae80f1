"""cephx users for RBD clients (the node agents): least privilege, converged, removable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kovirt.ceph.connection import Cluster
from kovirt.ceph.errors import CephError
from kovirt.ceph.layout import caps_list, rbd_caps


def entity(user: str) -> str:
    return user if user.startswith("client.") else f"client.{user}"


def get_user(cluster: Cluster, user: str) -> dict | None:
    """``{"entity", "key", "caps"}`` or None when the user does not exist."""
    try:
        found = cluster.mon_command("auth get", entity=entity(user), not_found=_Missing)
    except _Missing:
        return None
    return found[0] if found else None


def ensure_rbd_user(cluster: Cluster, user: str, pools: Iterable[str]) -> str:
    """Get or create ``client.<user>`` with ``profile rbd`` on exactly ``pools``; return its key.

    Read, compare, write: caps are rewritten only when they differ, so the key never changes
    and running clients are not disturbed.
    """
    return ensure_user(cluster, user, rbd_caps(pools))


def ensure_user(cluster: Cluster, user: str, caps: Mapping[str, str]) -> str:
    current = get_user(cluster, user)
    if current is None:
        created = cluster.mon_command(
            "auth get-or-create", entity=entity(user), caps=caps_list(caps)
        )
        return created[0]["key"]
    if dict(current.get("caps", {})) != dict(caps):
        cluster.mon_command("auth caps", entity=entity(user), caps=caps_list(caps))
    return current["key"]


def user_key(cluster: Cluster, user: str) -> str:
    found = get_user(cluster, user)
    if found is None:
        raise CephError(f"cephx user {entity(user)} does not exist", reason="UserNotFound")
    return found["key"]


def delete_user(cluster: Cluster, user: str) -> bool:
    """Delete the user; False when it did not exist."""
    if get_user(cluster, user) is None:
        return False
    cluster.mon_command("auth rm", entity=entity(user))
    return True


class _Missing(CephError):
    reason = "UserNotFound"
