"""The generated CRDs: up to date with the models, structural, and carrying every rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kovirt.api.crd import all_crds, render

CRDS = Path(__file__).resolve().parents[2] / "crds"
GENERATED = all_crds()


def test_committed_crds_match_what_the_models_generate() -> None:
    on_disk = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    wanted = {name: render(crd) for name, crd in GENERATED.items()}
    stale = sorted(n for n in wanted.keys() | on_disk.keys() if on_disk.get(n) != wanted.get(n))
    assert not stale, f"crds/ is stale for {stale}: run `kovirt crds`"


def walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_crd_schema_is_structural(name: str) -> None:
    schema = GENERATED[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        assert "$ref" not in node, path
        assert "anyOf" not in node, path
        assert "title" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if "properties" in node or "items" in node:
            assert node.get("type") in ("object", "array"), path


def schema_of(plural: str) -> dict:
    return GENERATED[f"kovirt.io_{plural}.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def rules(node: dict) -> list[str]:
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


def test_a_pool_is_replicated_xor_erasure_coded() -> None:
    pool = schema_of("storagedomains")["properties"]["spec"]["properties"]["pool"]
    assert "has(self.replicated) != has(self.erasureCoded)" in rules(pool)


def test_replicated_size_is_two_to_ten_and_min_size_at_most_size() -> None:
    pool = schema_of("storagedomains")["properties"]["spec"]["properties"]["pool"]
    replicated = pool["properties"]["replicated"]
    assert replicated["properties"]["size"]["minimum"] == 2  # Ceph refuses size 1
    assert replicated["properties"]["size"]["maximum"] == 10
    assert "!has(self.minSize) || self.minSize <= self.size" in rules(replicated)


def test_erasure_coding_needs_two_data_and_one_coding_chunk() -> None:
    pool = schema_of("storagedomains")["properties"]["spec"]["properties"]["pool"]
    ec = pool["properties"]["erasureCoded"]["properties"]
    assert ec["dataChunks"]["minimum"] == 2
    assert ec["codingChunks"]["minimum"] == 1


def test_a_domains_pool_layout_and_type_cannot_change() -> None:
    spec = schema_of("storagedomains")["properties"]["spec"]
    assert any("oldSelf.erasureCoded" in r for r in rules(spec["properties"]["pool"]))
    assert "self == oldSelf" in rules(spec["properties"]["type"])


def test_disk_names_are_unique_within_a_vm() -> None:
    disks = schema_of("virtualmachines")["properties"]["spec"]["properties"]["disks"]
    assert disks["x-kubernetes-list-type"] == "map"
    assert disks["x-kubernetes-list-map-keys"] == ["name"]


def test_memory_and_sizes_must_be_quantities() -> None:
    spec = schema_of("virtualmachines")["properties"]["spec"]["properties"]
    assert "Gi" in spec["memory"]["pattern"]
    assert "Gi" in spec["disks"]["items"]["properties"]["size"]["pattern"]
    pool = schema_of("storagedomains")["properties"]["spec"]["properties"]["pool"]
    assert "Gi" in pool["properties"]["quota"]["pattern"]


@pytest.mark.parametrize(
    ("plural", "path", "values"),
    [
        ("virtualmachines", "spec.runStrategy", {"Always", "RerunOnFailure", "Manual", "Halted"}),
        ("virtualmachines", "spec.firmware", {"bios", "uefi"}),
        ("virtualmachines", "spec.disks[].bus", {"virtio", "scsi", "sata"}),
        (
            "virtualmachines",
            "spec.disks[].cache",
            {"none", "writeback", "writethrough", "directsync", "unsafe"},
        ),
        ("storagedomains", "spec.type", {"data", "iso", "export"}),
        ("datacenters", "spec.hosts.hypervisor", {"auto", "kvm", "qemu"}),
    ],
)
def test_enumerated_fields_list_their_values(plural: str, path: str, values: set) -> None:
    node = schema_of(plural)
    for part in path.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    assert set(node["enum"]) == values


def test_short_names_do_not_clash_with_kubevirt() -> None:
    short = {s for crd in GENERATED.values() for s in crd["spec"]["names"]["shortNames"]}
    assert not short & {"vm", "vms", "vmi", "vmis", "dv", "dvs"}
    assert {crd["spec"]["names"]["categories"][0] for crd in GENERATED.values()} == {"kovirt"}


def test_every_kind_has_a_status_subresource_and_printer_columns() -> None:
    for crd in GENERATED.values():
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert {c["name"] for c in version["additionalPrinterColumns"]} >= {"Age"}


def test_the_committed_yaml_is_plain_yaml() -> None:
    for path in CRDS.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["kind"] == "CustomResourceDefinition"
