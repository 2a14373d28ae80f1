"""kovirt's CRDs on a real API server: accepted, examples apply, columns show, bad input is
refused at admission with the message a user needs (OpenAPI schema and CEL rules)."""

from __future__ import annotations

import copy
import uuid

import pytest
import yaml

from kovirt.localstack.paths import repo_root

pytestmark = pytest.mark.controlplane

EXAMPLES_DIR = repo_root() / "examples"
GROUP_VERSION = "kovirt.io/v1alpha1"


def _crds() -> list[dict]:
    paths = sorted((repo_root() / "crds").glob("*.yaml"))
    return [yaml.safe_load(path.read_text()) for path in paths]


def _dump(*objects: dict) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# -- builders: a valid object, then one change per invalid case ------------------------------


def storage_domain(name: str = "sd-test", **spec) -> dict:
    body = {
        "dataCenter": "local",
        "type": "data",
        "pool": {"replicated": {"size": 3}, "failureDomain": "osd"},
    }
    body.update(spec)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "StorageDomain",
        "metadata": {"name": name},
        "spec": body,
    }


def with_pool(**pool) -> dict:
    return storage_domain(pool={"failureDomain": "osd", **pool})


def virtual_machine(name: str = "vm-test", disks: list[dict] | None = None, **spec) -> dict:
    body = {
        "dataCenter": "local",
        "cpus": 1,
        "memory": "256Mi",
        "disks": disks if disks is not None else [blank_disk("root")],
    }
    body.update(spec)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "default"},
        "spec": body,
    }


def blank_disk(name: str, **fields) -> dict:
    return {"name": name, "storageDomain": "data", "size": "1Gi", "source": {"blank": {}}, **fields}


def data_center(name: str = "dc-test", **hosts) -> dict:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "DataCenter",
        "metadata": {"name": name},
        "spec": {"ceph": {"secretRef": {"name": "ceph-admin"}}, "hosts": hosts},
    }


def disk_image(name: str = "img-test", url: str = "http://127.0.0.1:8089/a.img") -> dict:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "DiskImage",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"storageDomain": "images", "source": {"http": {"url": url}}},
    }


# -- CRDs and examples -----------------------------------------------------------------------


@pytest.mark.parametrize("crd", _crds(), ids=lambda crd: crd["metadata"]["name"])
def test_every_crd_is_accepted_and_established(controlplane, crd):
    conditions = controlplane.kubectl(
        "get",
        "crd",
        crd["metadata"]["name"],
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}={.status} {end}",
    ).stdout.split()
    assert "Established=True" in conditions
    assert "NamesAccepted=True" in conditions


def test_there_are_crds_and_examples_to_test():
    # Guards the parametrised tests from passing on nothing.
    assert len(_crds()) >= 5
    assert len(list(EXAMPLES_DIR.glob("*.yaml"))) >= 5


@pytest.fixture(scope="module")
def applied_examples(controlplane):
    """Every example applied the way the README says: `kubectl apply -f examples/`."""
    result = controlplane.kubectl("apply", "-f", str(EXAMPLES_DIR))
    yield result
    # Remove the kovirt objects (not the namespaces, which other tests may share).
    kinds = ",".join(crd["spec"]["names"]["plural"] + ".kovirt.io" for crd in _crds())
    controlplane.kubectl("delete", kinds, "--all", "-A", "--wait=false", check=False)


def _example_objects() -> list[dict]:
    objects = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def test_every_example_applies_with_kubectl_apply(controlplane, applied_examples):
    for obj in _example_objects():
        meta = obj["metadata"]
        args = ["get", f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}", meta["name"]]
        if obj["apiVersion"] == "v1":
            args = ["get", obj["kind"].lower(), meta["name"]]
        if "namespace" in meta:
            args += ["-n", meta["namespace"]]
        controlplane.kubectl(*args, "-o", "name")


def test_applying_the_examples_again_writes_nothing(controlplane, applied_examples):
    # Compare resourceVersions rather than kubectl's words: client-side apply reports a
    # VirtualMachine as "configured" every time, because CRDs take JSON merge patches that
    # resend whole lists (disks) and the server's defaults inside them differ from the file;
    # the server then finds nothing to change and writes nothing.
    def versions() -> str:
        return controlplane.kubectl(
            "get",
            "-f",
            str(EXAMPLES_DIR),
            "-o",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}",
        ).stdout

    before = versions()
    controlplane.kubectl("apply", "-f", str(EXAMPLES_DIR))
    assert versions() == before


def _header(controlplane, plural: str, *extra: str) -> str:
    out = controlplane.kubectl("get", f"{plural}.kovirt.io", "-A", *extra).stdout
    return out.splitlines()[0]


@pytest.mark.parametrize("crd", _crds(), ids=lambda crd: crd["spec"]["names"]["kind"])
def test_kubectl_get_shows_the_printer_columns(controlplane, applied_examples, crd):
    names = crd["spec"]["names"]
    if not any(obj["kind"] == names["kind"] for obj in _example_objects()):
        # Hosts are written by the node agent and have no example: make one.
        host = {
            "apiVersion": GROUP_VERSION,
            "kind": names["kind"],
            "metadata": {"name": _unique("columns")},
            "spec": {"dataCenter": "local"},
        }
        controlplane.kubectl("apply", "-f", "-", input=_dump(host))
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    default = _header(controlplane, names["plural"])
    wide = _header(controlplane, names["plural"], "-o", "wide")
    for column in columns:
        heading = column["name"].upper()
        assert heading in wide, (heading, wide)
        if column.get("priority", 0) == 0:
            assert heading in default, (heading, default)
        else:
            assert heading not in default.split("  "), (heading, default)


def test_printer_columns_show_spec_and_status_values(controlplane, applied_examples):
    controlplane.kubectl(
        "patch",
        "virtualmachine.kovirt.io",
        "demo",
        "-n",
        "demo",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"phase": "Running", "host": "node-a"}}',
    )
    row = controlplane.kubectl("get", "kvm", "demo", "-n", "demo", "--no-headers").stdout.split()
    assert row[:4] == ["demo", "Running", "node-a", "Always"]
    row = controlplane.kubectl("get", "sd", "data", "--no-headers").stdout.split()
    assert row[:3] == ["data", "data", "local"]


# -- invalid manifests, refused on create ----------------------------------------------------

INVALID_ON_CREATE = {
    "storage domain with both replicated and erasureCoded": (
        with_pool(replicated={"size": 3}, erasureCoded={"dataChunks": 2, "codingChunks": 1}),
        ["set exactly one of pool.replicated or pool.erasureCoded"],
    ),
    "storage domain with neither replicated nor erasureCoded": (
        with_pool(),
        ["set exactly one of pool.replicated or pool.erasureCoded"],
    ),
    "replica size 0": (
        with_pool(replicated={"size": 0}),
        ["spec.pool.replicated.size", "should be greater than or equal to 2"],
    ),
    "replica size 1 (Ceph refuses one-copy pools)": (
        with_pool(replicated={"size": 1}),
        ["spec.pool.replicated.size", "should be greater than or equal to 2"],
    ),
    "replica size 11": (
        with_pool(replicated={"size": 11}),
        ["spec.pool.replicated.size", "should be less than or equal to 10"],
    ),
    "minSize larger than size": (
        with_pool(replicated={"size": 2, "minSize": 3}),
        ["minSize must not be larger than size"],
    ),
    "erasure code with one data chunk": (
        with_pool(erasureCoded={"dataChunks": 1, "codingChunks": 1}),
        ["spec.pool.erasureCoded.dataChunks", "should be greater than or equal to 2"],
    ),
    "erasure code with no coding chunk": (
        with_pool(erasureCoded={"dataChunks": 2, "codingChunks": 0}),
        ["spec.pool.erasureCoded.codingChunks", "should be greater than or equal to 1"],
    ),
    "erasure code without codingChunks": (
        with_pool(erasureCoded={"dataChunks": 2}),
        ["spec.pool.erasureCoded.codingChunks", "Required value"],
    ),
    "unknown storage domain type": (
        storage_domain(type="scratch"),
        ["spec.type", 'Unsupported value: "scratch"', '"data", "iso", "export"'],
    ),
    "unknown failure domain": (
        with_pool(replicated={"size": 3}, failureDomain="datacenter"),
        ["spec.pool.failureDomain", 'Unsupported value: "datacenter"'],
    ),
    "bad quota quantity": (
        with_pool(replicated={"size": 3}, quota="lots"),
        ["spec.pool.quota", "should match"],
    ),
    "storage domain without a data center": (
        {**storage_domain(), "spec": {"pool": {"replicated": {"size": 3}}}},
        ["spec.dataCenter", "Required value"],
    ),
    "misspelt field": (
        storage_domain(pools={"replicated": {"size": 3}}),
        ['unknown field "spec.pools"'],
    ),
    "duplicate disk names": (
        virtual_machine(disks=[blank_disk("root"), blank_disk("root")]),
        ["spec.disks[1]", "Duplicate value"],
    ),
    "bad memory quantity": (
        virtual_machine(memory="2 gigs"),
        ["spec.memory", "should match"],
    ),
    "unknown run strategy": (
        virtual_machine(runStrategy="Sometimes"),
        ["spec.runStrategy", 'Unsupported value: "Sometimes"', '"Always"'],
    ),
    "unknown disk bus": (
        virtual_machine(disks=[blank_disk("root", bus="ide")]),
        ["spec.disks[0].bus", 'Unsupported value: "ide"'],
    ),
    "unknown cache mode": (
        virtual_machine(disks=[blank_disk("root", cache="fast")]),
        ["spec.disks[0].cache", 'Unsupported value: "fast"'],
    ),
    "unknown firmware": (
        virtual_machine(firmware="efi"),
        ["spec.firmware", 'Unsupported value: "efi"', '"bios", "uefi"'],
    ),
    "zero cpus": (
        virtual_machine(cpus=0),
        ["spec.cpus", "should be greater than or equal to 1"],
    ),
    "disk with two sources": (
        virtual_machine(
            disks=[blank_disk("root", source={"blank": {}, "image": {"name": "tiny-guest"}})]
        ),
        ["a disk source is exactly one of blank, image or http"],
    ),
    "blank disk without a size": (
        virtual_machine(disks=[{"name": "root", "storageDomain": "data", "source": {"blank": {}}}]),
        ["size is required unless the disk clones an image"],
    ),
    "disk name with capitals": (
        virtual_machine(disks=[blank_disk("Root")]),
        ["spec.disks[0].name", "should match"],
    ),
    "qos mixing total with read": (
        virtual_machine(disks=[blank_disk("root", qos={"iopsPerSecond": {"total": 5, "read": 1}})]),
        ["set either total or read/write, not both"],
    ),
    "bridge network without a bridge": (
        virtual_machine(networks=[{"name": "lan", "type": "bridge"}]),
        ["a bridge network needs bridge: <host bridge name>"],
    ),
    "unknown hypervisor": (
        data_center(hypervisor="xen"),
        ["spec.hosts.hypervisor", 'Unsupported value: "xen"', '"auto", "kvm", "qemu"'],
    ),
    "disk image from an ftp URL": (
        disk_image(url="ftp://example.org/a.img"),
        ["spec.source.http.url", "should match"],
    ),
}


@pytest.mark.parametrize(
    ("manifest", "messages"), INVALID_ON_CREATE.values(), ids=list(INVALID_ON_CREATE)
)
def test_invalid_manifest_is_refused_with_a_clear_message(controlplane, manifest, messages):
    result = controlplane.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=_dump(manifest), check=False
    )
    assert result.returncode != 0, f"accepted:\n{_dump(manifest)}"
    for message in messages:
        assert message in result.stderr, result.stderr


def test_the_valid_builders_are_accepted(controlplane):
    # The invalid cases differ from these by one field each, so each rejection is due to
    # that field alone.
    for manifest in (storage_domain(), virtual_machine(), data_center(), disk_image()):
        controlplane.kubectl("apply", "--dry-run=server", "-f", "-", input=_dump(manifest))


# -- invalid changes, refused on update ------------------------------------------------------


def _change(obj: dict, path: str, value) -> dict:
    changed = copy.deepcopy(obj)
    *parents, leaf = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[leaf] = value
    return changed


INVALID_UPDATES = {
    "pool layout from replicated to erasure-coded": (
        storage_domain(),
        "spec.pool",
        {"erasureCoded": {"dataChunks": 2, "codingChunks": 1}, "failureDomain": "osd"},
        ["the pool layout", "is immutable"],
    ),
    "erasure-code chunks": (
        with_pool(erasureCoded={"dataChunks": 2, "codingChunks": 1}),
        "spec.pool.erasureCoded",
        {"dataChunks": 4, "codingChunks": 2},
        ["the pool layout", "is immutable"],
    ),
    "failure domain": (
        storage_domain(),
        "spec.pool.failureDomain",
        "host",
        ["the pool layout", "is immutable"],
    ),
    "replica size down to 1": (
        storage_domain(),
        "spec.pool.replicated.size",
        1,
        ["spec.pool.replicated.size", "should be greater than or equal to 2"],
    ),
    "storage domain type": (storage_domain(), "spec.type", "iso", ["type is immutable"]),
    "storage domain's data center": (
        storage_domain(),
        "spec.dataCenter",
        "other",
        ["dataCenter is immutable"],
    ),
    "virtual machine's data center": (
        virtual_machine(),
        "spec.dataCenter",
        "other",
        ["dataCenter is immutable"],
    ),
    "disk image source": (
        disk_image(),
        "spec.source",
        {"http": {"url": "http://127.0.0.1:8089/b.img"}},
        ["source is immutable; create a new DiskImage instead"],
    ),
}


@pytest.mark.parametrize(
    ("original", "path", "value", "messages"),
    INVALID_UPDATES.values(),
    ids=list(INVALID_UPDATES),
)
def test_changing_an_immutable_field_is_refused(controlplane, original, path, value, messages):
    original = _change(original, "metadata.name", _unique("immutable"))
    controlplane.kubectl("apply", "-f", "-", input=_dump(original))
    try:
        result = controlplane.kubectl(
            "apply", "-f", "-", input=_dump(_change(original, path, value)), check=False
        )
    finally:
        controlplane.kubectl("delete", "-f", "-", "--wait=false", input=_dump(original))
    assert result.returncode != 0, f"{path} changed to {value!r} was accepted"
    for message in messages:
        assert message in result.stderr, result.stderr


def test_a_replica_count_may_change_after_creation(controlplane):
    original = _change(storage_domain(), "metadata.name", _unique("resize"))
    controlplane.kubectl("apply", "-f", "-", input=_dump(original))
    try:
        grown = _change(original, "spec.pool.replicated", {"size": 2})
        controlplane.kubectl("apply", "-f", "-", input=_dump(grown))
    finally:
        controlplane.kubectl("delete", "-f", "-", "--wait=false", input=_dump(original))
