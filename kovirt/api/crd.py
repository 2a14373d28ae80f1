"""Generate CustomResourceDefinitions from the pydantic models (the single source of the API).

pydantic emits JSON Schema (draft 2020-12); Kubernetes wants a *structural* OpenAPI v3
schema: no $ref, no anyOf-with-null for optional fields, no `additionalProperties` beside
`properties`, no titles. This module rewrites one into the other and adds what the models
declare as class variables (names, scope, printer columns). CEL rules travel inside the
models as `x-kubernetes-validations` in `json_schema_extra`.

We wrote this (~100 lines) instead of using kube-custom-resource because our models are plain
pydantic models that the operator and agent also use at runtime, and we need CEL transition
rules and list-map markers exactly where we put them.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from kovirt.api.v1alpha1 import KINDS
from kovirt.api.v1alpha1.common import GROUP, VERSION, CustomResource

CATEGORY = "kovirt"

# Keys that are pydantic/JSON Schema vocabulary Kubernetes does not accept, or our own markers.
_DROPPED_KEYS = {"title", "examples", "x-kovirt-quantity"}


def crd_for(model: type[CustomResource]) -> dict[str, Any]:
    """The CustomResourceDefinition for one kind."""
    kind = model.model_fields["kind"].default
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    properties = schema["properties"]
    openapi = {
        "type": "object",
        "description": (model.__doc__ or kind).strip(),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _structural(properties["spec"], defs),
            "status": _structural(properties["status"], defs),
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{model.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": model.scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": model.plural,
                "singular": kind.lower(),
                "shortNames": list(model.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(model.printer_columns),
                    "schema": {"openAPIV3Schema": openapi},
                }
            ],
        },
    }


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Rewrite one pydantic JSON Schema node (recursively) into a structural schema node."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = _inline_ref(_collapse_optional(node), defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is False:
            continue  # the API server prunes unknown fields anyway
        if key == "additionalProperties" and value in (True, {}):
            out["x-kubernetes-preserve-unknown-fields"] = True
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
            continue
        out[key] = _structural(value, defs)
    if "properties" in out and not out["properties"] and "type" in out:
        del out["properties"]  # an empty object such as `blank: {}`
    return out


def _inline_ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Replace {"$ref": ..., siblings} with the referenced schema, siblings merged in."""
    if "$ref" not in node:
        return node
    name = node["$ref"].rsplit("/", 1)[-1]
    merged = copy.deepcopy(defs[name])
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "x-kubernetes-validations" and key in merged:
            merged[key] = merged[key] + value
        else:
            merged[key] = value
    return merged


def _collapse_optional(node: dict[str, Any]) -> dict[str, Any]:
    """anyOf [X, {type: null}] (pydantic's `X | None`) becomes X: absent means unset."""
    options = node.get("anyOf")
    if not options:
        return node
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) != 1:
        raise ValueError(f"unsupported union in schema: {options}")
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    inner = rest[0]
    for key, value in inner.items():
        merged.setdefault(key, value)
    return merged


def all_crds() -> dict[str, dict[str, Any]]:
    """File name (kovirt.io_<plural>.yaml) -> CRD, for every kind."""
    return {f"{GROUP}_{model.plural}.yaml": crd_for(model) for model in KINDS}


def render(crd: dict[str, Any]) -> str:
    # Each file opens its own YAML document: `helm show crds` and `cat crds/*.yaml` join the
    # files as they are, and without the marker the CRDs would merge into one document.
    header = "---\n# Generated by `kovirt crds` from kovirt/api/v1alpha1. Do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=100)
