"""The API models: examples parse, defaults are sane, bad specs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from kovirt.api.quantity import bytes_to_quantity, quantity_to_int
from kovirt.api.v1alpha1 import KINDS, StorageDomain, VirtualMachine
from kovirt.api.v1alpha1.common import ConditionStatus, ResourceStatus

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS = {model.__name__: model for model in KINDS}


def example_documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in MODELS:
                docs.append((f"{path.name}:{doc['kind']}", doc))
    return docs


@pytest.mark.parametrize(("where", "doc"), example_documents(), ids=lambda v: v)
def test_each_example_parses_into_its_model(where: str, doc: dict) -> None:
    model = MODELS[doc["kind"]].model_validate(doc)
    assert model.metadata.name == doc["metadata"]["name"]


def test_the_examples_cover_every_user_kind() -> None:
    kinds = {doc["kind"] for _, doc in example_documents()}
    assert kinds >= {"DataCenter", "StorageDomain", "DiskImage", "VirtualMachine"}


def sd(pool: dict) -> dict:
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "StorageDomain",
        "metadata": {"name": "x"},
        "spec": {"dataCenter": "dc", "pool": pool},
    }


def test_a_replicated_pool_defaults_to_three_copies_and_host_failure_domain() -> None:
    domain = StorageDomain.model_validate(sd({"replicated": {}}))
    assert domain.spec.pool.replicated.size == 3
    assert domain.spec.pool.failure_domain == "host"
    assert domain.spec.reclaim_policy == "Delete"


@pytest.mark.parametrize(
    "pool",
    [
        {"replicated": {"size": 0}},
        {"replicated": {"size": 11}},
        {"erasureCoded": {"dataChunks": 1, "codingChunks": 1}},
        {"erasureCoded": {"dataChunks": 2, "codingChunks": 0}},
        {"replicated": {}, "failureDomain": "planet"},
        {"replicated": {}, "quota": "10GB"},
        {"replicated": {}, "compression": "zip"},
    ],
)
def test_a_bad_pool_layout_is_refused(pool: dict) -> None:
    with pytest.raises(ValidationError):
        StorageDomain.model_validate(sd(pool))


def vm(**spec) -> dict:
    base = {"dataCenter": "dc"}
    base.update(spec)
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "VirtualMachine",
        "metadata": {"name": "v", "namespace": "n"},
        "spec": base,
    }


@pytest.mark.parametrize(
    "spec",
    [
        {"runStrategy": "Sometimes"},
        {"memory": "lots"},
        {"firmware": "coreboot"},
        {
            "disks": [
                {
                    "name": "a",
                    "storageDomain": "d",
                    "size": "1Gi",
                    "bus": "usb",
                    "source": {"blank": {}},
                }
            ]
        },
        {
            "disks": [
                {
                    "name": "a",
                    "storageDomain": "d",
                    "size": "1Gi",
                    "cache": "fast",
                    "source": {"blank": {}},
                }
            ]
        },
        {
            "disks": [
                {"name": "Root!", "storageDomain": "d", "size": "1Gi", "source": {"blank": {}}}
            ]
        },
        {"cpus": 0},
    ],
)
def test_a_bad_vm_spec_is_refused(spec: dict) -> None:
    with pytest.raises(ValidationError):
        VirtualMachine.model_validate(vm(**spec))


def test_a_vm_knows_its_libvirt_domain_name() -> None:
    assert VirtualMachine.model_validate(vm()).domain_name == "kovirt-n-v"


@pytest.mark.parametrize(
    ("text", "value"),
    [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1.5Gi", 3 * 2**29), ("10G", 10**10), ("7", 7)],
)
def test_quantities_convert_to_whole_numbers(text: str, value: int) -> None:
    assert quantity_to_int(text) == value


def test_byte_counts_print_as_the_shortest_binary_quantity() -> None:
    assert bytes_to_quantity(2**30) == "1Gi"
    assert bytes_to_quantity(1536 * 2**20) == "1536Mi"
    assert bytes_to_quantity(1000) == "1000"


def test_a_bad_quantity_says_what_a_good_one_looks_like() -> None:
    with pytest.raises(ValueError, match="such as 512Mi"):
        quantity_to_int("ten gigs")


def test_a_condition_keeps_its_transition_time_when_only_the_message_changes() -> None:
    status = ResourceStatus()
    assert status.set_condition("Ready", True, "PoolCreated", "made it")
    first = status.condition("Ready").last_transition_time
    assert status.set_condition("Ready", True, "PoolCreated", "still there")
    assert status.condition("Ready").last_transition_time == first
    assert not status.set_condition("Ready", True, "PoolCreated", "still there")
    assert status.set_condition("Ready", ConditionStatus.FALSE, "CephDown")
    assert status.condition("Ready").status == "False"
    assert len(status.conditions) == 1
