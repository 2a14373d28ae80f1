"""The node agent on the real stack: API server, Ceph (least-privilege cephx user), libvirtd.

One agent (host `h1`) serves the module's VMs; tests run in file order and say what they
expect to find. The agent's own Ceph identity has `profile rbd` on the test pool only.
"""

from __future__ import annotations

import base64
import os
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s

from kovirt.api.v1alpha1.common import GROUP, VERSION
from kovirt.domxml import Domain
from kovirt.guest import read_marker
from tests.fixtures.agent import AGENT_NAMESPACE, VmPlacer, wait_for

pytestmark = [pytest.mark.libvirt, pytest.mark.ceph, pytest.mark.controlplane]

TAG = uuid.uuid4().hex[:5]
HOST = f"{TAG}-h1"
QOS = {
    "bytesPerSecond": {"write": 50_000_000},
    "iopsPerSecond": {"total": 2000},
    "burst": {"bytesPerSecond": {"write": 100_000_000}, "lengthSeconds": 10},
}
EXPECTED_IOTUNE = {
    "write_bytes_sec": 50_000_000,
    "total_iops_sec": 2000,
    "write_bytes_sec_max": 100_000_000,
    "write_bytes_sec_max_length": 10,
}


@pytest.fixture(scope="module")
def namespace(controlplane):
    name = f"t-agent-{TAG}"
    controlplane.kubectl("create", "namespace", name)
    yield name
    controlplane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def vms(controlplane, namespace, agent_storage):
    placer = VmPlacer(k8s.CustomObjectsApi(controlplane.api_client), namespace, agent_storage)
    yield placer
    placer.cleanup()


@pytest.fixture(scope="module")
def agent(agent_factory):
    return agent_factory.start(HOST)


def root_disk(boot_order: int = 1) -> dict:
    return {
        "name": "root",
        "storageDomain": "agent-sd",
        "source": {"image": {"name": "golden"}},
        "bootOrder": boot_order,
    }


def data_disk(qos: dict | None = None) -> dict:
    disk = {"name": "data", "storageDomain": "agent-sd", "size": "8Mi", "source": {"blank": {}}}
    if qos:
        disk["qos"] = qos
    return disk


def phase(vms: VmPlacer, name: str) -> str | None:
    return ((vms.get(name) or {}).get("status") or {}).get("phase")


def wait_phase(vms: VmPlacer, name: str, wanted: str, agent, timeout_s: float = 90) -> dict:
    return wait_for(
        f"{name} to be {wanted}",
        lambda: phase(vms, name) == wanted and vms.get(name),
        timeout_s,
        on_timeout=lambda: f"{vms.get(name)}\n{agent.log_tail()}",
    )


def runtime_condition(vm: dict, type_: str) -> dict | None:
    conditions = ((vm.get("status") or {}).get("runtime") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


def qemu_pid(libvirtd, domain_name: str) -> int:
    pid_file = libvirtd.stack.overlay / "run" / "qemu" / f"{domain_name}.pid"
    return int(pid_file.read_text().strip())


def domain_names(libvirtd) -> list[str]:
    with libvirtd.connect() as conn:
        return [d.name() for d in conn.listAllDomains(0)]


def live_domain(libvirtd, name: str) -> Domain:
    with libvirtd.connect() as conn:
        return Domain.parse_xml(conn.lookupByName(name).XMLDesc(0))


def domain_name(namespace: str, name: str) -> str:
    return f"kovirt-{namespace}-{name}"


def console_log(agent, namespace: str, name: str) -> Path:
    return Path(agent.env["KOVIRT_STATE_DIR"]) / "console" / f"{domain_name(namespace, name)}.log"


def metrics_text(agent) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.metrics_port}/metrics") as response:
        return response.read().decode()


def lease(controlplane, host: str):
    api = k8s.CoordinationV1Api(controlplane.api_client)
    return api.read_namespaced_lease(f"kovirt-host-{host}", AGENT_NAMESPACE)


def get_host(controlplane, host: str) -> dict:
    api = k8s.CustomObjectsApi(controlplane.api_client)
    return api.get_cluster_custom_object(GROUP, VERSION, "hosts", host)


# -- tests, in order -------------------------------------------------------------------------


def test_the_host_registers_ready_with_capacity_versions_and_a_fresh_lease(
    controlplane, libvirtd, agent
):
    host = wait_for(
        "Host Ready",
        lambda: (h := get_host(controlplane, HOST)).get("status", {}).get("phase") == "Ready" and h,
        30,
        on_timeout=agent.log_tail,
    )
    status = host["status"]
    assert host["spec"]["dataCenter"] == "agent-dc"
    assert host["spec"]["labels"] == {"zone": "test"}
    assert status["capacity"]["cpus"] == os.cpu_count()
    assert status["capacity"]["memoryBytes"] > 0
    assert status["hypervisor"] == libvirtd.hypervisor
    assert status["libvirtVersion"] == libvirtd.libvirt_version
    assert status["qemuVersion"] == libvirtd.qemu_version
    assert status["leaseDurationSeconds"] == 8
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "AgentReady"
    first = lease(controlplane, HOST).spec.renew_time
    wait_for(
        "the Lease to be renewed", lambda: lease(controlplane, HOST).spec.renew_time > first, 10
    )


def test_a_vm_boots_from_an_rbd_clone_and_its_marker_reads_back_through_rbd(
    libvirtd, agent, vms, agent_storage, namespace
):
    root = agent_storage.clone(f"{TAG}-a-root")
    data = agent_storage.blank(f"{TAG}-a-data")
    marker = f"m-{TAG}"
    started = time.monotonic()
    vms.create(
        "a",
        HOST,
        disks=[(root_disk(), root), (data_disk(QOS), data)],
        guest_args=f"kovirt.mode=run kovirt.marker={marker}",
    )
    vm = wait_phase(vms, "a", "Running", agent)
    log = console_log(agent, namespace, "a")
    wait_for("the marker on the console", lambda: log.exists() and marker in log.read_text(), 90)
    seconds = time.monotonic() - started
    assert read_marker(agent_storage.read(data)) == marker
    assert "kovirt.io/node-agent" in vm["metadata"]["finalizers"]
    runtime = vm["status"]["runtime"]
    assert runtime["domainState"] == "running"
    assert runtime["consoleLog"] == str(log)
    assert runtime_condition(vm, "Running")["status"] == "True"
    # The clone shares the golden image's data: copy-on-write, no copy made.
    assert agent_storage.admin and agent_storage.read(root, 16) != b"\0" * 16
    print(f"VM create -> Running -> marker on RBD: {seconds:.1f}s ({libvirtd.hypervisor})")


def test_the_live_domain_carries_the_asked_iotune_metadata_and_the_agents_own_identity(
    libvirtd, agent, namespace, agent_storage, vms
):
    live = live_domain(libvirtd, domain_name(namespace, "a"))
    vm = vms.get("a")
    assert live.metadata.kovirt.uid == vm["metadata"]["uid"]
    assert live.uuid == vm["metadata"]["uid"]
    data = next(d for d in live.devices.disks if d.serial == "data")
    assert data.iotune.limits() == EXPECTED_IOTUNE
    assert data.effective_auth.username == agent_storage.user  # never admin
    root = next(d for d in live.devices.disks if d.serial == "root")
    assert root.boot.order == 1 and root.iotune is None


def test_metrics_report_the_vm_state_and_its_disk_io(agent, namespace):
    def scraped():
        text = metrics_text(agent)
        labels = f'disk="data",host="{HOST}",name="a",namespace="{namespace}"'
        line = f"kovirt_agent_disk_write_ops_total{{{labels}}}"
        found = [row for row in text.splitlines() if row.startswith(line)]
        return found and float(found[0].split()[-1]) > 0 and text

    text = wait_for("disk write ops in /metrics", scraped, 20)
    labels = f'host="{HOST}",name="a",namespace="{namespace}",state="running"'
    assert f"kovirt_agent_vm_state{{{labels}}} 1.0" in text
    assert f'kovirt_agent_domains{{host="{HOST}"}}' in text
    assert "kovirt_agent_heartbeat_timestamp_seconds" in text
    assert f'kovirt_agent_host_cpus{{host="{HOST}"}} {float(os.cpu_count())}' in text


def test_a_killed_and_restarted_agent_adopts_the_running_guest_without_restarting_it(
    libvirtd, agent, namespace, vms
):
    name = domain_name(namespace, "a")
    pid = qemu_pid(libvirtd, name)
    restarts = vms.get("a")["status"]["runtime"].get("restarts", 0)
    agent.kill()
    offset = len(agent.log_text())
    agent.start()
    agent.wait_for_log("kovirt agent started", after=offset)
    time.sleep(5)  # two resync passes (2 s each) after start-up: time to do harm, if any
    assert qemu_pid(libvirtd, name) == pid
    assert domain_names(libvirtd).count(name) == 1
    vm = vms.get("a")
    assert vm["status"]["phase"] == "Running"
    assert vm["status"]["runtime"].get("restarts", 0) == restarts
    assert "Traceback" not in agent.log_text()[offset:]


def test_a_missing_image_fails_its_vm_with_the_ceph_reason_while_another_keeps_running(
    libvirtd, agent, namespace, vms
):
    pid = qemu_pid(libvirtd, domain_name(namespace, "a"))
    vms.create("b", HOST, disks=[(root_disk(), f"{TAG}-never-made")])
    vm = wait_phase(vms, "b", "Failed", agent)
    failed = runtime_condition(vm, "Failed")
    assert failed["status"] == "True"
    assert failed["reason"] == "ImageNotFound", failed
    assert "No such file" in failed["message"] or "not found" in failed["message"]
    assert phase(vms, "a") == "Running"
    assert qemu_pid(libvirtd, domain_name(namespace, "a")) == pid
    vms.delete("b")
    wait_for("the failed VM to be released", lambda: vms.get("b") is None, 30, agent.log_tail)


def test_halted_stops_the_guest_and_removes_its_domain(libvirtd, agent, namespace, vms):
    vms.patch("a", {"spec": {"runStrategy": "Halted"}})
    vm = wait_phase(vms, "a", "Stopped", agent, timeout_s=60)
    assert domain_name(namespace, "a") not in domain_names(libvirtd)
    assert vm["status"]["runtime"]["domainState"] == "absent"
    assert runtime_condition(vm, "Running")["status"] == "False"


def test_rerun_on_failure_restarts_a_guest_whose_qemu_was_killed(
    libvirtd, agent, namespace, vms, agent_storage
):
    root = agent_storage.clone(f"{TAG}-c-root")
    vms.create("c", HOST, disks=[(root_disk(), root)], run_strategy="RerunOnFailure")
    wait_phase(vms, "c", "Running", agent)
    name = domain_name(namespace, "c")
    pid = qemu_pid(libvirtd, name)
    os.kill(pid, signal.SIGKILL)  # our own test VM's QEMU: a crash as hard as it gets
    vm = wait_for(
        "the crashed guest to be restarted",
        lambda: (
            (v := vms.get("c"))
            and v["status"].get("runtime", {}).get("restarts") == 1
            and v["status"]["phase"] == "Running"
            and v
        ),
        60,
        on_timeout=agent.log_tail,
    )
    # The pass that restarts the guest says why; the next one says Running.
    assert vm["status"]["runtime"]["reason"] in ("RestartedAfterCrash", "Running")
    assert qemu_pid(libvirtd, name) != pid


def test_deleting_a_vm_removes_its_domain_and_releases_the_finalizer(
    libvirtd, agent, namespace, vms
):
    vms.delete("c")
    wait_for("the VM to be gone", lambda: vms.get("c") is None, 60, agent.log_tail)
    assert domain_name(namespace, "c") not in domain_names(libvirtd)


def test_an_agent_whose_cephx_key_is_wrong_fails_rbd_vms_and_still_runs_others(
    libvirtd, agent_factory, agent_storage, namespace, vms, test_guest
):
    host = f"{TAG}-badkey"
    # Well-formed (cephx header + 16-byte secret) but not the user's secret.
    raw = base64.b64decode(agent_storage.key)
    wrong = base64.b64encode(raw[:-16] + bytes(b ^ 0xFF for b in raw[-16:])).decode()
    bad = agent_factory.start(host, extra_env={"KOVIRT_CEPH_KEY": wrong})
    root = agent_storage.clone(f"{TAG}-d-root")
    vms.create("d", host, disks=[(root_disk(), root)])
    kernel_boot = {
        "kernel": str(test_guest.kernel),
        "initrd": str(test_guest.initramfs),
        "cmdline": test_guest.cmdline(),
    }
    vms.create("e", host, disks=[], extra_spec={"kernelBoot": kernel_boot})
    vm = wait_phase(vms, "d", "Failed", bad, timeout_s=120)
    failed = runtime_condition(vm, "Failed")
    assert failed["reason"] == "CephPermissionDenied", failed
    wait_phase(vms, "e", "Running", bad)
    for name in ("d", "e"):
        vms.delete(name)
    wait_for("both VMs released", lambda: not vms.get("d") and not vms.get("e"), 60, bad.log_tail)
    bad.stop()


def test_the_host_goes_not_ready_on_a_clean_stop_and_its_lease_goes_stale_when_killed(
    controlplane, agent_factory, libvirtd, test_guest
):
    host = f"{TAG}-h2"
    other = agent_factory.start(
        host,
        extra_env={"KOVIRT_HYPERVISOR": "auto", "KOVIRT_PROBE_KERNEL": str(test_guest.kernel)},
    )
    status = wait_for(
        "h2 Ready",
        lambda: (s := get_host(controlplane, host).get("status", {})).get("phase") == "Ready" and s,
        60,
    )
    # auto probes KVM with a real guest; it lands where the local stack's own probe did.
    assert status["hypervisor"] == libvirtd.hypervisor
    other.kill()
    last = lease(controlplane, host).spec.renew_time
    killed_at = time.time()
    time.sleep(8 + 1)  # leaseDurationSeconds + a second
    renewed = lease(controlplane, host).spec.renew_time
    assert renewed == last, "nobody may renew a dead agent's Lease"
    assert time.time() - renewed.timestamp() > 8
    print(f"Lease stale {time.time() - killed_at:.1f}s after SIGKILL (duration 8s)")
    offset = len(other.log_text())
    other.start()
    other.wait_for_log("kovirt agent started", after=offset)
    assert other.stop() == 0
    ready = next(
        c for c in get_host(controlplane, host)["status"]["conditions"] if c["type"] == "Ready"
    )
    assert ready["status"] == "False" and ready["reason"] == "AgentStopped"


def test_deleting_every_vm_leaves_no_domain_behind(libvirtd, agent, namespace, vms):
    for name in list(vms.names):
        vms.delete(name)
    wait_for(
        "every VM released by the agent",
        lambda: all(vms.get(name) is None for name in vms.names),
        60,
        agent.log_tail,
    )
    assert not [n for n in domain_names(libvirtd) if n.startswith(f"kovirt-{namespace}-")]
