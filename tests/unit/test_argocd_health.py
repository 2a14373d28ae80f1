"""The Argo CD health checks, run by a real Lua interpreter on objects in every phase.

Argo CD evaluates `resource.customizations.health.<group>_<Kind>` scripts in gopher-lua
(Lua 5.1) with the live object bound to the global `obj`; Debian's lua5.1 runs them the
same way here. The sample statuses go through the API models first, so a renamed status
field breaks these tests rather than the checks in production.
"""

from __future__ import annotations

import itertools
import subprocess
import typing
from pathlib import Path

import pytest
import yaml

from kovirt.api.v1alpha1 import KINDS
from kovirt.localstack import tools

ROOT = Path(__file__).resolve().parents[2]
HEALTH_DIR = ROOT / "deploy" / "argocd" / "health"
ARGOCD_CM = ROOT / "deploy" / "argocd" / "argocd-cm.yaml"

EXPECTED = {
    "DataCenter": {
        "Pending": "Progressing",
        "Ready": "Healthy",
        "Degraded": "Degraded",
        "Failed": "Degraded",
        "Deleting": "Progressing",
    },
    "StorageDomain": {
        "Provisioning": "Progressing",
        "Active": "Healthy",
        "Maintenance": "Suspended",
        "Deleting": "Progressing",
        "Failed": "Degraded",
    },
    "DiskImage": {
        "Pending": "Progressing",
        "Importing": "Progressing",
        "Ready": "Healthy",
        "Failed": "Degraded",
    },
    "VirtualMachine": {
        "Pending": "Progressing",
        "Provisioning": "Progressing",
        "Scheduled": "Progressing",
        "Starting": "Progressing",
        "Running": "Healthy",
        "Stopping": "Progressing",
        "Stopped": "Progressing",  # runStrategy Always: it will be started again
        "Migrating": "Progressing",
        "Failed": "Degraded",
    },
    "Host": {"Ready": "Healthy", "NotReady": "Degraded", "Maintenance": "Suspended"},
}
KIND_MODELS = {model.__name__: model for model in KINDS}


def phases_of(kind: str) -> set[str]:
    """Every phase the API model allows for kind (Literal or enum, read from the model)."""
    status_model = KIND_MODELS[kind].model_fields["status"].annotation
    values: set[str] = set()
    for arg in typing.get_args(status_model.model_fields["phase"].annotation):
        if typing.get_origin(arg) is typing.Literal:
            values.update(typing.get_args(arg))
        elif isinstance(arg, type) and issubclass(arg, str):
            values.update(member.value for member in arg)
    return values


def example(kind: str) -> dict:
    """A spec from examples/ (Host has none there: the agent writes Hosts)."""
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                return doc
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "Host",
        "metadata": {"name": "node-1"},
        "spec": {"dataCenter": "local"},
    }


def with_status(kind: str, spec: dict | None = None, generation: int = 1, **status) -> dict:
    obj = example(kind)
    obj["metadata"] = {**obj["metadata"], "generation": generation}
    if spec:
        obj["spec"] = {**obj["spec"], **spec}
    status_model = KIND_MODELS[kind].model_fields["status"].annotation
    obj["status"] = status_model.model_validate(status).to_wire()
    return obj


def lua_literal(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    items = ", ".join(f"[{lua_literal(key)}] = {lua_literal(item)}" for key, item in value.items())
    return "{" + items + "}"


def health(kind: str, obj: dict) -> tuple[str, str]:
    """Run the kind's script as Argo CD does: `obj` global, the script's return value."""
    script = (HEALTH_DIR / f"{kind}.lua").read_text()
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local function check()\n{script}\nend\n"
        'local hs = check()\nio.write(hs.status, "\\n", hs.message or "")\n'
    )
    done = subprocess.run(
        [str(tools.lua())], input=program, capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    status, _, message = done.stdout.partition("\n")
    return status, message


def render_argocd_cm() -> str:
    header = (
        "# Merge into Argo CD's argocd-cm ConfigMap (see README.md in this folder).\n"
        "# Generated from health/*.lua: python -m tests.unit.test_argocd_health\n"
    )
    data = {
        f"resource.customizations.health.kovirt.io_{kind}": (HEALTH_DIR / f"{kind}.lua").read_text()
        for kind in EXPECTED
    }
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "data": data,
    }
    return header + yaml.dump(body, Dumper=_BlockDumper, sort_keys=False, width=1000)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks, so the Lua stays readable in the ConfigMap."""


_BlockDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def test_every_kind_has_a_health_check_and_every_phase_an_expectation():
    assert set(EXPECTED) == set(KIND_MODELS)
    for kind, expected in EXPECTED.items():
        assert (HEALTH_DIR / f"{kind}.lua").is_file()
        assert set(expected) == phases_of(kind), f"{kind}: a phase was added or removed"


@pytest.mark.parametrize(
    ("kind", "phase", "status"),
    [(kind, phase, status) for kind, table in EXPECTED.items() for phase, status in table.items()],
)
def test_each_phase_maps_to_the_expected_argocd_health(kind, phase, status):
    obj = with_status(kind, phase=phase, observedGeneration=1)
    got, message = health(kind, obj)
    assert got == status, message
    assert message


@pytest.mark.parametrize("kind", [kind for kind in EXPECTED if kind != "Host"])
def test_an_object_without_status_is_progressing(kind):
    obj = example(kind)
    obj.pop("status", None)
    assert health(kind, obj)[0] == "Progressing"


@pytest.mark.parametrize("kind", [kind for kind in EXPECTED if kind != "Host"])
def test_a_healthy_phase_for_an_older_generation_is_still_progressing(kind):
    healthy = next(phase for phase, status in EXPECTED[kind].items() if status == "Healthy")
    obj = with_status(kind, generation=3, phase=healthy, observedGeneration=2)
    status, message = health(kind, obj)
    assert (status, message) == ("Progressing", "Waiting for the operator to observe generation 3")


def test_a_failed_vm_says_why_from_its_ready_condition():
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "ImageNotFound",
        "message": "DiskImage debian-12 does not exist",
    }
    obj = with_status(
        "VirtualMachine", phase="Failed", observedGeneration=1, conditions=[condition]
    )
    assert health("VirtualMachine", obj) == (
        "Degraded",
        "Failed: DiskImage debian-12 does not exist",
    )


@pytest.mark.parametrize("strategy", ["Halted", "Manual"])
def test_a_vm_stopped_on_purpose_is_suspended(strategy):
    obj = with_status(
        "VirtualMachine", spec={"runStrategy": strategy}, phase="Stopped", observedGeneration=1
    )
    assert health("VirtualMachine", obj) == ("Suspended", f"Stopped (runStrategy {strategy})")


def test_a_ready_datacenter_reports_ceph_health_and_hosts():
    obj = with_status(
        "DataCenter",
        phase="Ready",
        observedGeneration=1,
        cephHealth="HEALTH_OK",
        hostsReady=2,
        hostsTotal=3,
    )
    assert health("DataCenter", obj) == ("Healthy", "Ceph HEALTH_OK, hosts ready 2/3")


def test_an_importing_image_shows_its_progress():
    obj = with_status("DiskImage", phase="Importing", observedGeneration=1, progress="42%")
    assert health("DiskImage", obj) == ("Progressing", "Importing: 42%")


def test_the_argocd_cm_snippet_holds_exactly_the_lua_files():
    assert ARGOCD_CM.read_text() == render_argocd_cm(), (
        "deploy/argocd/argocd-cm.yaml is stale: python -m tests.unit.test_argocd_health"
    )


def test_examples_apply_in_dependency_order_with_argocd_sync_waves():
    waves = {}
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["apiVersion"].startswith("kovirt.io/"):
                wave = int(doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
                waves.setdefault(doc["kind"], set()).add(wave)
    order = ["DataCenter", "StorageDomain", "DiskImage", "VirtualMachine"]
    for before, after in itertools.pairwise(order):
        assert max(waves[before]) < min(waves[after]), f"{before} must sync before {after}"


if __name__ == "__main__":
    ARGOCD_CM.write_text(render_argocd_cm())
    print(f"wrote {ARGOCD_CM.relative_to(ROOT)}")
