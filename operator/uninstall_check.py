"""`kovirt-uninstall-check`: the chart's pre-delete hook refuses `helm uninstall` while kovirt
still manages objects.

Without the operator, the finalizers of DataCenters, StorageDomains, DiskImages and
VirtualMachines can never finish (they release Ceph pools, images and cephx users), so the
objects hang in deletion and the CRDs can never be removed. The check lists what is left
and says how to delete it; `helm uninstall --no-hooks` skips it for whoever really wants
the operator gone first.
"""

from __future__ import annotations

import sys

from kovirt.operator import kube

#: Deleted in this order (VMs and images before the domains that hold them).
KINDS = (
    ("virtualmachines", "kvm"),
    ("diskimages", "kdi"),
    ("storagedomains", "sd"),
    ("datacenters", "dc"),
)


def remaining() -> list[str]:
    """`kind/name` (with namespace where there is one) of every kovirt object that exists."""
    found = []
    for plural, short in KINDS:
        for item in kube.list_kovirt(plural):
            meta = item["metadata"]
            where = f" -n {meta['namespace']}" if meta.get("namespace") else ""
            found.append(f"{short}/{meta['name']}{where}")
    return found


def message(found: list[str]) -> str:
    listed = "\n".join(f"  {entry}" for entry in found)
    return (
        f"kovirt still manages {len(found)} object(s):\n{listed}\n"
        "Delete them while the operator runs, so that their finalizers release Ceph pools, "
        "images and users:\n"
        "  kubectl delete kvm,kdi --all -A --wait && kubectl delete sd,dc --all --wait\n"
        "then run helm uninstall again. (helm uninstall --no-hooks skips this check; the "
        "objects then stay in deletion until an operator runs again.)"
    )


def main() -> int:
    found = remaining()
    if found:
        print(message(found), file=sys.stderr)
        return 1
    print("no kovirt objects left: uninstall may go on")
    return 0


def run() -> None:
    sys.exit(main())
