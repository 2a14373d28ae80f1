"""Write status the way STYLE.md asks: only what changed, Events only for transitions.

Handlers compute a fresh status model and call `publish`, which turns the difference from
the object's current status into kopf's status patch and posts an Event for each condition
whose status or reason moved (not for heartbeats).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from kovirt.api.v1alpha1.common import ResourceStatus

#: Condition types where True is bad news (their transitions to True are Warnings).
NEGATIVE_CONDITIONS = frozenset({"Failed", "DeletionBlocked", "Degraded"})


def publish(
    body: Mapping[str, Any],
    patch: kopf.Patch,
    status: ResourceStatus,
    *,
    owned_fields: Iterable[str] | None = None,
) -> None:
    """Patch status fields that differ; `owned_fields` limits which top-level keys we write."""
    old = dict(body.get("status") or {})
    new = status.to_wire()
    fields = set(owned_fields) if owned_fields is not None else set(type(status).model_fields)
    wire_names = {name: (info.alias or name) for name, info in type(status).model_fields.items()}
    for name in fields:
        key = wire_names.get(name, name)
        if old.get(key) != new.get(key):
            patch.status[key] = new.get(key)  # None deletes the key (JSON merge patch)
    _post_transition_events(body, old.get("conditions") or [], status)


def _post_transition_events(
    body: Mapping[str, Any], old_conditions: list[dict[str, Any]], status: ResourceStatus
) -> None:
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in old_conditions}
    for condition in status.conditions:
        if before.get(condition.type) == (condition.status, condition.reason):
            continue
        good = (condition.status == "True") != (condition.type in NEGATIVE_CONDITIONS)
        kopf.event(
            body,
            type="Normal" if good else "Warning",
            reason=condition.reason or condition.type,
            message=condition.message or f"{condition.type} is {condition.status}",
        )


def existing_status(model_type: type[ResourceStatus], body: Mapping[str, Any]) -> ResourceStatus:
    """The object's current status as a model (unknown or broken fields dropped, not fatal)."""
    raw = dict(body.get("status") or {})
    try:
        return model_type.model_validate(raw)
    except Exception:  # a hand-edited status must not crash-loop the operator
        known = {k: v for k, v in raw.items() if k in ("conditions", "observedGeneration")}
        try:
            return model_type.model_validate(known)
        except Exception:
            return model_type()
