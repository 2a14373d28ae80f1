"""apply -> Running with kovirt vs `virsh create` of the same domain, on the same machine.

    .venv/bin/python bench/apply_to_running.py [--vms 20] [--rounds 3]

Brings up (or reuses) the local stack without the examples (`kovirt up --no-examples`),
creates a data center, a data and an iso domain and a golden image (the test guest), starts
the node agent of one host, then measures:

- single: `kubectl apply` of one VM (a copy-on-write clone of the golden image) until its
  phase is Running, against `virsh create` of the very domain XML the agent produced
  (renamed, on an RBD clone made beforehand) until the domain runs; `--rounds` times each;
- batch: `--vms` VMs in one `kubectl apply` until all run, against the same number of
  `virsh create`s one after another.

kovirt's time includes what virsh does not do: provisioning the disk clone, placement,
status. Results are printed as a Markdown table of medians and ratios (kovirt / virsh).
Everything the bench made is deleted at the end; the stack is left as it was found.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kovirt.localstack.agent import start_agent
from kovirt.localstack.stack import IMAGE_PORT, Stack

DC, DATA, ISO, NS, HOST = "bench", "bench-data", "bench-iso", "bench", "bench-host"


def kube(stack: Stack, *args: str, input: str | None = None) -> str:
    return stack.kubectl(*args, input=input)


def wait(what: str, probe, timeout_s: float = 600, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval_s)


def setup(stack: Stack) -> None:
    url = f"http://127.0.0.1:{IMAGE_PORT}/guest.img"
    with urllib.request.urlopen(url, timeout=30) as response:
        sha = hashlib.sha256(response.read()).hexdigest()
    secret_ref = {"name": "ceph-admin", "namespace": "kovirt-system"}
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "DataCenter",
            "metadata": {"name": DC},
            "spec": {"ceph": {"secretRef": secret_ref}, "hosts": {"cpuOvercommit": 16}},
        },
        *[
            {
                "apiVersion": "kovirt.io/v1alpha1",
                "kind": "StorageDomain",
                "metadata": {"name": name},
                "spec": {
                    "dataCenter": DC,
                    "type": kind,
                    "pool": {"replicated": {"size": 2}, "failureDomain": "osd"},
                },
            }
            for name, kind in ((DATA, "data"), (ISO, "iso"))
        ],
        {
            "apiVersion": "kovirt.io/v1alpha1",
            "kind": "DiskImage",
            "metadata": {"name": "golden", "namespace": NS},
            "spec": {"storageDomain": ISO, "source": {"http": {"url": url, "sha256": sha}}},
        },
    ]
    kube(stack, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
    start_agent(stack, DC, HOST)
    wait(
        "the golden image",
        lambda: (
            kube(stack, "get", "kdi", "golden", "-n", NS, "-o", "jsonpath={.status.phase}")
            == "Ready"
        ),
    )


def vm_manifest(name: str) -> dict:
    return {
        "apiVersion": "kovirt.io/v1alpha1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "dataCenter": DC,
            "memory": "128Mi",
            "runStrategy": "Manual",
            "guestConfig": {"args": "kovirt.mode=run"},
            "disks": [
                {
                    "name": "root",
                    "storageDomain": DATA,
                    "bootOrder": 1,
                    "source": {"image": {"name": "golden"}},
                }
            ],
        },
    }


def phases(stack: Stack) -> dict[str, str]:
    out = json.loads(kube(stack, "get", "kvm", "-n", NS, "-o", "json"))
    return {i["metadata"]["name"]: (i.get("status") or {}).get("phase", "") for i in out["items"]}


def kovirt_apply(stack: Stack, names: list[str]) -> float:
    started = time.monotonic()
    kube(stack, "apply", "-f", "-", input=yaml.safe_dump_all([vm_manifest(n) for n in names]))
    wait("VMs Running", lambda: all(phases(stack).get(n) == "Running" for n in names))
    return time.monotonic() - started


def kovirt_delete(stack: Stack, names: list[str]) -> None:
    kube(stack, "delete", "kvm", "-n", NS, *names, "--wait=true", "--timeout=300s")


def virsh(stack: Stack, *args: str, input: str | None = None) -> str:
    result = subprocess.run(
        ["virsh", "-c", stack.libvirt.uri, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"virsh {args[0]}: {result.stderr.strip()}")
    return result.stdout


def rbd(stack: Stack, *args: str) -> None:
    info = stack.ceph.up(say=lambda _: None)
    subprocess.run(
        ["rbd", "-c", str(info.conf_path), "--keyring", str(info.admin_keyring_path), *args],
        check=True,
        capture_output=True,
    )


def raw_domain_xml(template: str, name: str, image: str) -> str:
    kovirt_name = re.search(r"<name>([^<]+)</name>", template).group(1)
    # The name also names the serial log file: each raw domain gets its own.
    xml = template.replace(kovirt_name, name)
    xml = re.sub(r"<uuid>[^<]+</uuid>", "", xml, count=1)
    return re.sub(
        r"name=['\"]kovirt-bench-data/[^'\"]+['\"]",
        f"name='kovirt-bench-data/{image}'",
        xml,
        count=1,
    )


def virsh_create(stack: Stack, template: str, names: list[str], parent: str) -> float:
    """Clones are made first (not timed): virsh does not provision disks."""
    for name in names:
        rbd(stack, "clone", parent, f"kovirt-bench-data/{name}")
    xmls = [raw_domain_xml(template, name, name) for name in names]
    started = time.monotonic()
    for xml in xmls:
        virsh(stack, "create", "/dev/stdin", input=xml)
    elapsed = time.monotonic() - started
    for name in names:
        virsh(stack, "destroy", name)
        rbd(stack, "rm", f"kovirt-bench-data/{name}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stack = Stack(say=lambda m: print(m, file=sys.stderr))
    stack.up(examples=False)
    setup(stack)
    golden = json.loads(kube(stack, "get", "kdi", "golden", "-n", NS, "-o", "json"))["status"]
    parent = f"{golden['pool']}/{golden['image']}@{golden['snapshot']}"

    single_kovirt, single_virsh = [], []
    for round_ in range(args.rounds):
        name = f"one-{round_}"
        single_kovirt.append(kovirt_apply(stack, [name]))
        template = virsh(stack, "dumpxml", f"kovirt-{NS}-{name}")
        kovirt_delete(stack, [name])
        single_virsh.append(virsh_create(stack, template, [f"raw-one-{round_}"], parent))

    names = [f"many-{i}" for i in range(args.vms)]
    batch_kovirt = kovirt_apply(stack, names)
    template = virsh(stack, "dumpxml", f"kovirt-{NS}-{names[0]}")
    kovirt_delete(stack, names)
    batch_virsh = virsh_create(stack, template, [f"raw-many-{i}" for i in range(args.vms)], parent)

    k1, v1 = statistics.median(single_kovirt), statistics.median(single_virsh)
    print("| case | kovirt apply -> Running (s) | virsh create (s) | ratio |")
    print("|---|---|---|---|")
    print(f"| 1 VM (median of {args.rounds}) | {k1:.2f} | {v1:.2f} | {k1 / v1:.1f} |")
    print(
        f"| {args.vms} VMs at once | {batch_kovirt:.2f} | {batch_virsh:.2f} "
        f"| {batch_kovirt / batch_virsh:.1f} |"
    )
    print(
        f"| per VM in the batch | {batch_kovirt / args.vms:.2f} | {batch_virsh / args.vms:.2f} | |"
    )

    kube(stack, "delete", "kdi", "golden", "-n", NS, "--wait=true", "--timeout=120s")
    kube(stack, "delete", "sd", DATA, ISO, "--wait=true", "--timeout=120s")
    kube(stack, "delete", "dc", DC, "--wait=true", "--timeout=120s")
    stack.agent(HOST).stop()
    kube(stack, "delete", "host", HOST, "--wait=false")


if __name__ == "__main__":
    main()
