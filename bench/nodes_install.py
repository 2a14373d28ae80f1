"""The real-nodes stack: warm `kovirt up`, and `helm install` -> sample VM Running.

    .venv/bin/python bench/nodes_install.py [--rounds 3] [--skip-up]

Measured in one run on this machine, everything warm (Kubernetes binaries and images
cached; the stack itself is brought down first so that `up` starts it fresh):

- warm up: `kovirt down`, then `kovirt up` (control plane, 2 nodes, Ceph, chart, examples,
  sample VM Running), as the README's first command runs it after bootstrap;
- install: with the examples deleted and the release uninstalled, `helm install` of the
  chart (`--wait`: operator Ready) + `kubectl apply` of examples/ until the sample VM runs:
  the time a user waits on a cluster that already has nodes;
- raw floors, same run: a pause pod applied until Running (what any pod costs on these
  nodes) and `virsh create` of the sample domain's XML inside its libvirt pod (diskless
  copy, renamed: what QEMU's start costs there). The ratio puts install -> Running
  against their sum.

Prints a Markdown table of medians. The stack is left up with the sample VM running.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kovirt.localstack.images import planned_images
from kovirt.localstack.nodes_stack import NodesStack
from kovirt.localstack.process import wait_until
from kovirt.localstack.stack import OPERATOR_NAMESPACE, SAMPLE_VM

KOVIRT = str(Path(sys.executable).parent / "kovirt")


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def warm_up() -> float:
    subprocess.run([KOVIRT, "down"], check=True, capture_output=True)
    # Its progress goes to stderr, with the bench's own lines.
    return timed(lambda: subprocess.run([KOVIRT, "up"], check=True, stdout=subprocess.DEVNULL))


def vm_phase(stack: NodesStack) -> str:
    namespace, name = SAMPLE_VM
    return stack.kubectl("get", "kvm", name, "-n", namespace, "-o", "jsonpath={.status.phase}",
                         check=False)  # fmt: skip


def uninstall(stack: NodesStack) -> None:
    """Examples first (their finalizers need the operator), then the release."""
    stack.kubectl("delete", "-f", "-", "--wait=true", "--timeout=300s", "--ignore-not-found",
                  input=stack.examples())  # fmt: skip
    for host in stack.node_names():
        stack.kubectl("delete", "host", host, "--ignore-not-found")
    stack.helm("uninstall", "kovirt", "-n", OPERATOR_NAMESPACE, "--wait")
    wait_until(lambda: not stack.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "name"),
               180, 0.5, what="the old pods to go")  # fmt: skip


def install_to_running(stack: NodesStack) -> float:
    started = time.monotonic()
    stack.helm(*stack.install_args())
    stack.kubectl("apply", "-f", "-", input=stack.examples())
    wait_until(lambda: vm_phase(stack) == "Running", 600, 0.2, what="the sample VM Running")
    return time.monotonic() - started


def pod_to_running(stack: NodesStack, round_: int) -> float:
    name = f"bench-pause-{round_}"
    manifest = f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  containers: [{{name: pause, image: {planned_images().pause.ref}, imagePullPolicy: Never}}]
"""
    started = time.monotonic()
    stack.kubectl("apply", "-f", "-", input=manifest)
    wait_until(lambda: stack.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
               == "Running", 120, 0.05, what="the pause pod Running")  # fmt: skip
    seconds = time.monotonic() - started
    stack.kubectl("delete", "pod", name, "--wait=false")
    return seconds


def virsh_create(stack: NodesStack, round_: int) -> float:
    namespace, name = SAMPLE_VM
    host = stack.kubectl("get", "kvm", name, "-n", namespace, "-o", "jsonpath={.status.host}")
    pod = stack.libvirt_pod(host)
    exec_ = ["exec", "-n", OPERATOR_NAMESPACE, pod, "--"]
    xml = stack.kubectl(*exec_, "virsh", "dumpxml", f"kovirt-{namespace}-{name}")
    raw = f"bench-raw-{round_}"
    xml = re.sub(r"<uuid>.*?</uuid>", "", xml)
    xml = re.sub(r"<name>.*?</name>", f"<name>{raw}</name>", xml, count=1)
    xml = re.sub(r"<disk .*?</disk>", "", xml, flags=re.S)
    xml = re.sub(r"<metadata>.*?</metadata>", "", xml, flags=re.S)
    xml = re.sub(r"<(serial|console) .*?</\1>", "", xml, flags=re.S)
    stack.kubectl("exec", "-i", *exec_[1:], "sh", "-c", f"cat > /tmp/{raw}.xml", input=xml)
    seconds = timed(lambda: stack.kubectl(*exec_, "virsh", "create", f"/tmp/{raw}.xml"))
    stack.kubectl(*exec_, "virsh", "destroy", raw)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-up", action="store_true", help="reuse the running stack")
    args = parser.parse_args()
    up_s = None if args.skip_up else warm_up()
    if up_s is not None:
        print(f"warm kovirt up: {up_s:.1f}s", file=sys.stderr)
    stack = NodesStack(say=lambda _: None)
    installs, pods, virsh = [], [], []
    for round_ in range(args.rounds):
        uninstall(stack)
        installs.append(install_to_running(stack))
        pods.append(pod_to_running(stack, round_))
        virsh.append(virsh_create(stack, round_))
        print(f"round {round_ + 1}: install->Running {installs[-1]:.1f}s, "
              f"pod {pods[-1]:.2f}s, virsh create {virsh[-1]:.2f}s", file=sys.stderr)  # fmt: skip
    install, pod, create = (statistics.median(v) for v in (installs, pods, virsh))
    print("| measure | seconds (median) | ratio to raw floor |")
    print("|---|---|---|")
    if up_s is not None:
        print(f"| warm `kovirt up` (down first) | {up_s:.1f} | |")
    print(f"| helm install -> sample VM Running ({args.rounds} rounds) | {install:.1f} | "
          f"{install / (pod + create):.1f} |")  # fmt: skip
    print(f"| raw: pause pod apply -> Running | {pod:.2f} | |")
    print(f"| raw: `virsh create` in the libvirt pod | {create:.2f} | |")


if __name__ == "__main__":
    main()
