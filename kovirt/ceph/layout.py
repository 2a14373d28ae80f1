"""Pool layouts and cephx caps as plain data, and the mon commands they turn into.

Everything here is pure (no connection): ``pools.py`` reads the cluster, asks this module what
to change, and sends the commands. That keeps the decisions unit-testable, the way rook tests
its pool code against a mock executor that asserts every command line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kovirt.ceph.errors import InvalidLayout

OWNER_KEY = "kovirt.io/owner"
RBD_APP = "rbd"
COMPRESSION_MODES = ("none", "passive", "aggressive", "force")
# A replicated pool is type 1 and an erasure-coded one type 3 in `osd pool ls detail`.
POOL_TYPE_REPLICATED = 1
POOL_TYPE_ERASURE = 3

Command = dict[str, Any]


@dataclass(frozen=True)
class Replicated:
    """``size`` copies, each in a different ``failure_domain`` bucket (osd, host, rack, ...)."""

    size: int = 3
    min_size: int | None = None  # None: Ceph's default, size - size // 2
    failure_domain: str = "host"
    device_class: str | None = None

    @property
    def width(self) -> int:
        return self.size

    @property
    def effective_min_size(self) -> int:
        return self.min_size if self.min_size is not None else self.size - self.size // 2

    @property
    def crush_rule(self) -> str:
        """One shared rule per (failure domain, device class): rules are cluster-wide."""
        suffix = f"-{self.device_class}" if self.device_class else ""
        return f"kovirt-replicated-{self.failure_domain}{suffix}"


@dataclass(frozen=True)
class ErasureCoded:
    """``k`` data + ``m`` coding chunks, each in a different ``failure_domain`` bucket."""

    k: int
    m: int
    failure_domain: str = "host"
    device_class: str | None = None

    @property
    def width(self) -> int:
        return self.k + self.m

    def profile(self) -> list[str]:
        settings = [f"k={self.k}", f"m={self.m}", f"crush-failure-domain={self.failure_domain}"]
        if self.device_class:
            settings.append(f"crush-device-class={self.device_class}")
        return settings


Layout = Replicated | ErasureCoded


@dataclass(frozen=True)
class PoolSpec:
    """What a storage domain asks of Ceph.

    A replicated domain is one pool. An erasure-coded one is two: ``name`` (replicated, holds
    the RBD headers and metadata, which EC pools cannot) and ``name-data`` (EC, holds the
    image data; images are created with ``data_pool`` = it).
    """

    name: str
    owner: str
    layout: Layout = field(default_factory=Replicated)
    quota_bytes: int | None = None  # None or 0: no quota
    compression: Literal["none", "passive", "aggressive", "force"] | None = None
    metadata_size: int = 3  # replica count of the metadata pool of an EC domain

    @property
    def is_erasure(self) -> bool:
        return isinstance(self.layout, ErasureCoded)

    @property
    def data_pool(self) -> str | None:
        return f"{self.name}-data" if self.is_erasure else None

    @property
    def ec_profile_name(self) -> str:
        return f"kovirt-{self.name}"

    @property
    def metadata_layout(self) -> Replicated:
        """The pool that holds image headers: the layout itself, or replicas beside the EC."""
        if isinstance(self.layout, Replicated):
            return self.layout
        size = min(self.metadata_size, self.layout.width)
        return Replicated(size, None, self.layout.failure_domain, self.layout.device_class)

    def pool_names(self) -> list[str]:
        return [self.name] + ([self.data_pool] if self.data_pool else [])


@dataclass(frozen=True)
class PoolState:
    """What the cluster says about one pool (from ``osd pool ls detail``)."""

    name: str
    pool_id: int
    erasure: bool
    size: int
    min_size: int
    crush_rule_id: int
    ec_profile: str
    quota_bytes: int
    compression: str | None
    applications: Mapping[str, Mapping[str, str]]
    ec_overwrites: bool

    @classmethod
    def from_detail(cls, raw: Mapping[str, Any]) -> PoolState:
        return cls(
            name=raw["pool_name"],
            pool_id=int(raw["pool_id"]),
            erasure=raw.get("type") == POOL_TYPE_ERASURE,
            size=int(raw["size"]),
            min_size=int(raw["min_size"]),
            crush_rule_id=int(raw["crush_rule"]),
            ec_profile=raw.get("erasure_code_profile") or "",
            quota_bytes=int(raw.get("quota_max_bytes") or 0),
            compression=(raw.get("options") or {}).get("compression_mode"),
            applications=raw.get("application_metadata") or {},
            ec_overwrites="ec_overwrites" in (raw.get("flags_names") or "").split(","),
        )

    @property
    def owner(self) -> str | None:
        return self.applications.get(RBD_APP, {}).get(OWNER_KEY)


# ---- failure domains -------------------------------------------------------------------------


def count_failure_domains(
    osd_tree: Mapping[str, Any], failure_domain: str, device_class: str | None = None
) -> int:
    """How many distinct ``failure_domain`` buckets hold at least one usable OSD.

    Usable: up, in (reweight > 0) and of ``device_class`` when one is asked for. This is the
    most chunks (EC) or copies (replicated) CRUSH can place apart.
    """
    nodes = {node["id"]: node for node in osd_tree.get("nodes", [])}
    parent_of = {child: node["id"] for node in nodes.values() for child in node.get("children", [])}
    domains: set[int] = set()
    for node in nodes.values():
        if node.get("type") != "osd" or not _osd_usable(node, device_class):
            continue
        bucket = _ancestor_of_type(node["id"], failure_domain, nodes, parent_of)
        if bucket is not None:
            domains.add(bucket)
    return len(domains)


def _osd_usable(node: Mapping[str, Any], device_class: str | None) -> bool:
    if device_class and node.get("device_class") != device_class:
        return False
    return node.get("status") == "up" and float(node.get("reweight", 0)) > 0


def _ancestor_of_type(
    node_id: int, bucket_type: str, nodes: Mapping[int, Any], parent_of: Mapping[int, int]
) -> int | None:
    current: int | None = node_id
    while current is not None:
        if nodes[current].get("type") == bucket_type:
            return current
        current = parent_of.get(current)
    return None


def validate_layout(layout: Layout, domains: int) -> None:
    """Refuse, before anything is created, a layout the cluster cannot place."""
    if isinstance(layout, ErasureCoded):
        if layout.k < 2 or layout.m < 1:
            raise InvalidLayout(
                f"erasure coding needs k >= 2 and m >= 1, got k={layout.k} m={layout.m}"
            )
        what = f"erasure coding {layout.k}+{layout.m} needs {layout.width}"
    else:
        if layout.size < 1:
            raise InvalidLayout(f"replica size must be at least 1, got {layout.size}")
        if not 1 <= layout.effective_min_size <= layout.size:
            raise InvalidLayout(
                f"min_size {layout.effective_min_size} must be between 1 and size {layout.size}"
            )
        what = f"{layout.size} replicas need {layout.size}"
    if layout.width > domains:
        klass = f" of class {layout.device_class}" if layout.device_class else ""
        raise InvalidLayout(
            f"{what} failure domains of type {layout.failure_domain!r}{klass}, "
            f"but the cluster has {domains} with usable OSDs"
        )


# ---- commands --------------------------------------------------------------------------------


def create_commands(spec: PoolSpec, pool: str, existing_rules: Iterable[str]) -> list[Command]:
    """Mon commands that create ``pool`` (the metadata or the data pool of spec), in order.

    The owner mark comes right after the pool exists, so a crash half-way leaves a pool that
    a retry recognises as ours and finishes.
    """
    commands: list[Command] = []
    if pool == spec.data_pool:
        assert isinstance(spec.layout, ErasureCoded)
        commands.append(
            {
                "prefix": "osd erasure-code-profile set",
                "name": spec.ec_profile_name,
                "profile": spec.layout.profile(),
                "force": True,
            }
        )
        commands.append(
            {
                "prefix": "osd pool create",
                "pool": pool,
                "pool_type": "erasure",
                "erasure_code_profile": spec.ec_profile_name,
            }
        )
    else:
        layout = spec.metadata_layout
        if layout.crush_rule not in set(existing_rules):
            rule: Command = {
                "prefix": "osd crush rule create-replicated",
                "name": layout.crush_rule,
                "root": "default",
                "type": layout.failure_domain,
            }
            if layout.device_class:
                rule["class"] = layout.device_class
            commands.append(rule)
        commands.append(
            {
                "prefix": "osd pool create",
                "pool": pool,
                "pool_type": "replicated",
                "rule": layout.crush_rule,
            }
        )
    commands.append({"prefix": "osd pool application enable", "pool": pool, "app": RBD_APP})
    commands.append(
        {
            "prefix": "osd pool application set",
            "pool": pool,
            "app": RBD_APP,
            "key": OWNER_KEY,
            "value": spec.owner,
        }
    )
    return commands


def update_commands(spec: PoolSpec, state: PoolState, rule_ids: Mapping[str, int]) -> list[Command]:
    """Read-compare-write: only the settings that differ from what the cluster has."""
    commands: list[Command] = []
    is_data = state.name == spec.data_pool
    if not is_data:
        layout = spec.metadata_layout
        rule_id = rule_ids.get(layout.crush_rule)
        if rule_id is not None and rule_id != state.crush_rule_id:
            commands.append(_pool_set(state.name, "crush_rule", layout.crush_rule))
        if state.size != layout.size:
            commands.append(_pool_set(state.name, "size", layout.size))
        if state.min_size != layout.effective_min_size:
            commands.append(_pool_set(state.name, "min_size", layout.effective_min_size))
    elif not state.ec_overwrites:
        commands.append(_pool_set(state.name, "allow_ec_overwrites", "true"))
    if RBD_APP not in state.applications:
        commands.append(
            {"prefix": "osd pool application enable", "pool": state.name, "app": RBD_APP}
        )
    wanted_quota = spec.quota_bytes or 0
    # The quota bounds the domain: it goes on the pool that holds the data.
    quota_pool = spec.data_pool or spec.name
    if state.name == quota_pool and state.quota_bytes != wanted_quota:
        commands.append(
            {
                "prefix": "osd pool set-quota",
                "pool": state.name,
                "field": "max_bytes",
                "val": str(wanted_quota),
            }
        )
    if spec.compression and state.name == quota_pool and state.compression != spec.compression:
        commands.append(_pool_set(state.name, "compression_mode", spec.compression))
    return commands


def immutable_changes(spec: PoolSpec, state: PoolState, profile: Mapping[str, str]) -> list[str]:
    """What spec asks that Ceph cannot change on an existing pool (EC k/m, pool type)."""
    problems: list[str] = []
    wants_erasure = state.name == spec.data_pool
    if state.erasure != wants_erasure:
        kind = "erasure-coded" if state.erasure else "replicated"
        problems.append(f"pool {state.name} exists as {kind}")
    if wants_erasure and isinstance(spec.layout, ErasureCoded):
        have = (profile.get("k"), profile.get("m"), profile.get("crush-failure-domain"))
        want = (str(spec.layout.k), str(spec.layout.m), spec.layout.failure_domain)
        if have != want:
            problems.append(
                f"pool {state.name} has k={have[0]} m={have[1]} failure domain {have[2]}; "
                f"k, m and failure domain of an erasure-coded pool cannot change"
            )
    return problems


def _pool_set(pool: str, var: str, val: object) -> Command:
    return {"prefix": "osd pool set", "pool": pool, "var": var, "val": str(val)}


# ---- cephx caps ------------------------------------------------------------------------------


def rbd_caps(pools: Iterable[str]) -> dict[str, str]:
    """Least privilege for an RBD client: ``profile rbd`` on exactly these pools.

    ``mon 'profile rbd'`` lets it read maps and blocklist dead clients of its own (exclusive
    lock recovery); the osd cap names every pool, so any other pool is EPERM.
    """
    names = sorted(set(pools))
    if not names:
        raise InvalidLayout("a cephx user for RBD needs at least one pool")
    for name in names:
        if not name or any(c in name for c in " ,="):
            raise InvalidLayout(f"invalid pool name for a cap: {name!r}")
    return {"mon": "profile rbd", "osd": ", ".join(f"profile rbd pool={n}" for n in names)}


def caps_list(caps: Mapping[str, str]) -> list[str]:
    """``{"mon": "a", "osd": "b"}`` -> ``["mon", "a", "osd", "b"]``, as auth commands take them."""
    flat: list[str] = []
    for service in sorted(caps):
        flat += [service, caps[service]]
    return flat
