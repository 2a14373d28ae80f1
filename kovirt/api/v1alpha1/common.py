"""Pieces every kovirt resource shares: the base model, metadata, conditions and QoS."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kovirt.api.quantity import Quantity

GROUP = "kovirt.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Names of Kubernetes objects (RFC 1123 subdomain), as the API server checks them.
DNS_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: Names inside a spec (disk and network names): RFC 1123 labels.
LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict the API server stores (aliases, no unset optional fields)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(BaseModel):
    """The parts of Kubernetes metadata kovirt reads; everything else passes through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A Kubernetes-shaped condition (metav1.Condition)."""

    type: str = Field(description="What the condition is about, e.g. Ready or CephConnected.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="",
        description="One CamelCase word for why, e.g. PoolCreated or HostNotFound.",
    )
    message: str = Field(default="", description="What happened, for a human.")
    last_transition_time: datetime | None = Field(
        default=None, description="When status or reason last changed."
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed for."
    )


class ResourceStatus(ApiModel):
    """Status every resource carries: conditions and the generation they describe."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status describes."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Current state, one entry per condition type.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def is_true(self, type_: str) -> bool:
        found = self.condition(type_)
        return found is not None and found.status == ConditionStatus.TRUE

    def set_condition(
        self,
        type_: str,
        status: ConditionStatus | bool,
        reason: str,
        message: str = "",
        generation: int | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Set a condition; lastTransitionTime moves only when status or reason changes.

        Returns True when anything about the condition changed (so callers can skip a write
        and an Event when nothing did).
        """
        if isinstance(status, bool):
            status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
        status = ConditionStatus(status)
        old = self.condition(type_)
        moved = old is None or old.status != status or old.reason != reason
        new = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=(now or datetime.now(UTC)).replace(microsecond=0)
            if moved
            else old.last_transition_time,
            observed_generation=generation,
        )
        if old is not None and old == new:
            return False
        self.conditions = [c for c in self.conditions if c.type != type_] + [new]
        return True


class IoLimits(ApiModel):
    """Limits for one measure, total or split by direction (QEMU refuses both at once)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.total) && (has(self.read) || has(self.write)))",
                    "message": "set either total or read/write, not both (QEMU refuses the mix)",
                }
            ]
        }
    )

    total: int | None = Field(default=None, ge=1, description="Reads and writes together.")
    read: int | None = Field(default=None, ge=1, description="Reads only.")
    write: int | None = Field(default=None, ge=1, description="Writes only.")


class QoSBurst(ApiModel):
    """Short bursts above the sustained limits (libvirt's *_max and *_max_length)."""

    iops_per_second: IoLimits | None = Field(default=None, description="Burst operations/s.")
    bytes_per_second: IoLimits | None = Field(default=None, description="Burst bytes/s.")
    length_seconds: int = Field(
        default=10, ge=1, le=3600, description="How long a burst may last, in seconds."
    )


class QoS(ApiModel):
    """Per-disk I/O limits, applied as libvirt <iotune>."""

    iops_per_second: IoLimits | None = Field(
        default=None, description="Sustained I/O operations per second."
    )
    bytes_per_second: IoLimits | None = Field(
        default=None, description="Sustained throughput in bytes per second."
    )
    burst: QoSBurst | None = Field(default=None, description="Optional bursts above the limits.")


class CustomResource(ApiModel):
    """A whole object as the API server stores it. Subclasses set spec and status types."""

    model_config = ConfigDict(extra="ignore")

    # CRD naming, read by the generator.
    plural: ClassVar[str]
    short_names: ClassVar[tuple[str, ...]] = ()
    scope: ClassVar[str] = "Namespaced"
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = ()

    api_version: str = API_VERSION
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @classmethod
    def from_body(cls, body: Any):
        """Parse a kopf body or API dict into the model (status may be absent)."""
        return cls.model_validate(dict(body))


def age_column() -> dict[str, Any]:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def condition_column(name: str, type_: str, priority: int = 0) -> dict[str, Any]:
    column = {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{type_}")].status',
    }
    if priority:
        column["priority"] = priority
    return column


__all__ = ["Quantity"]
