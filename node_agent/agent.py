"""The agent process: start-up facts, then three loops that share nothing but a wake-up.

- the reconcile loop (main thread): one pass on every watch event and every resync_s;
- the watch thread: a server-side label-selected watch of this host's VMs that only wakes
  the reconcile loop (level-based: the pass re-reads everything, events carry no logic);
- the lease thread: renews the host's Lease every lease_duration / 4.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from kovirt.domxml import Domain
from kovirt.errors import KovirtError
from kovirt.node_agent import builder
from kovirt.node_agent.config import AgentConfig, parse_monitors
from kovirt.node_agent.host import HostInfo, HostReporter, ensure_host
from kovirt.node_agent.hypervisor import choose_mode
from kovirt.node_agent.kube import Kube, load_client
from kovirt.node_agent.metrics import AgentCollector, make_registry, start_server
from kovirt.node_agent.reconciler import PassResult, Reconciler
from kovirt.node_agent.virt import Hypervisor, LibvirtFailure

log = logging.getLogger("kovirt.node_agent")

WATCH_TIMEOUT_S = 300
LIBVIRT_WAIT_S = 120


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.collector = AgentCollector(config.host_name)

    # -- start-up ---------------------------------------------------------------------------

    def _connect_libvirt(self, timeout_s: float = LIBVIRT_WAIT_S) -> Hypervisor:
        """Wait for libvirtd: in the pod layout the libvirt pod may start after the agent's,
        and a crash loop would only add the kubelet's back-off to the wait."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return Hypervisor(self.config.libvirt_uri)
            except KovirtError as error:
                if time.monotonic() > deadline or self.stopping.is_set():
                    raise
                log.info("waiting for libvirtd: %s", error)
                self.stopping.wait(2)

    def _await_libvirt_without_kvm(self, timeout_s: float = 60) -> Hypervisor:
        """The libvirt pod (kovirt-libvirtd) reads the probe result, hides /dev/kvm and
        restarts libvirtd once; with the device present every guest start stalls."""
        log.info("waiting for the libvirt pod to restart libvirtd without /dev/kvm")
        deadline = time.monotonic() + timeout_s
        hv = self.hv
        while time.monotonic() < deadline and not self.stopping.is_set():
            hv.close()
            self.stopping.wait(1)
            hv = self._connect_libvirt()
            with contextlib.suppress(Exception):
                if not hv.offers_kvm():
                    return hv
        log.warning("libvirtd still offers KVM after %.0fs: guests may start slowly", timeout_s)
        return hv

    def start(self) -> None:
        config = self.config
        config.console_dir.mkdir(parents=True, exist_ok=True)
        self.hv = self._connect_libvirt()
        probe = choose_mode(
            config.hypervisor, self.hv, config.state_dir, config.probe_kernel, config.host_name
        )
        log.info("hypervisor mode %s: %s", probe.mode, probe.reason)
        if config.libvirt_mode == "pod" and probe.mode == "qemu" and self.hv.offers_kvm():
            self.hv = self._await_libvirt_without_kvm()
        secret_uuid = self.hv.ensure_ceph_secret(config.ceph_user, config.ceph_key)
        libvirt_version, qemu_version = self.hv.versions()
        cpus, memory_bytes = self.hv.cpus_and_memory()
        self.info = HostInfo(
            cpus, memory_bytes, probe.mode, probe.reason, libvirt_version, qemu_version
        )
        self.kube = Kube(load_client())
        ensure_host(self.kube, config)
        self.host = HostReporter(self.kube, config, self.info)
        facts = builder.HostFacts(
            domain_type=probe.mode,
            monitors=parse_monitors(config.ceph_monitors),
            ceph_user=config.ceph_user,
            secret_uuid=secret_uuid,
            console_dir=config.console_dir,
        )
        self.reconciler = Reconciler(config, self.kube, self.hv, facts)
        found = sorted(self.hv.kovirt_domains())
        if found:
            # After an agent restart or upgrade: guests kept running in libvirtd.
            log.info("found %d kovirt domain(s) in libvirt to adopt: %s", len(found), found)
        self.collector.update(cpus=cpus, memory_bytes=self.host_capacity_bytes())
        if config.metrics_port:
            start_server(config.metrics_port, make_registry(self.collector))
        self.renew_lease()  # before Ready: a Ready host always has a fresh Lease
        for target, name in ((self.lease_loop, "lease"), (self.watch_loop, "watch")):
            threading.Thread(target=target, name=name, daemon=True).start()
        log.info(
            "kovirt agent started on host %s (data center %s, libvirt %s, QEMU %s)",
            config.host_name,
            config.data_center,
            libvirt_version,
            qemu_version,
        )

    def host_capacity_bytes(self) -> int:
        return max(0, self.info.memory_bytes - self.config.memory_reserve_bytes)

    # -- loops ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Reconcile until stop(); a failing pass is logged and retried at the next tick."""
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                result = self.reconciler.run_pass()
                self.host.report(
                    ready=True, vms=sum(1 for d in result.domains.values() if d.active)
                )
                self.record_metrics(result)
            except Exception:  # API server or libvirt hiccup: next pass
                log.exception("reconcile pass failed")
            self.wake.wait(self.config.resync_s)

    def stop(self) -> None:
        """Clean stop: guests keep running (like VDSM); the Host says NotReady."""
        self.stopping.set()
        self.wake.set()
        with contextlib.suppress(Exception):
            self.host.report(ready=False, vms=0)
        with contextlib.suppress(Exception):
            self.hv.close()

    def renew_lease(self) -> None:
        config = self.config
        self.kube.renew_lease(
            config.namespace, config.lease_name, config.host_name, config.lease_duration_s
        )
        self.collector.update(heartbeat=time.time())

    def lease_loop(self) -> None:
        while not self.stopping.wait(self.config.renew_interval_s):
            try:
                self.renew_lease()
            except Exception as error:  # keep trying: a Lease is the heartbeat
                log.warning("renewing Lease %s failed: %s", self.config.lease_name, error)

    def watch_loop(self) -> None:
        selector = self.config.label_selector
        while not self.stopping.is_set():
            try:
                _, resource_version = self.kube.list_vms(selector)
                watch, stream = self.kube.watch_vms(selector, resource_version, WATCH_TIMEOUT_S)
                for _event in stream:
                    self.wake.set()
                    if self.stopping.is_set():
                        watch.stop()
                        break
            except Exception as error:  # 410 Gone, network: re-list and go on
                log.debug("VM watch ended: %s", error)
                self.stopping.wait(1.0)

    # -- metrics --------------------------------------------------------------------------------

    def record_metrics(self, result: PassResult) -> None:
        states: dict[tuple[str, str], str] = {}
        disks: dict[tuple[str, str, str], dict[str, int]] = {}
        for facts in result.domains.values():
            key = (facts.owner.namespace, facts.owner.name)
            states[key] = facts.state
            if facts.state != "running":
                continue
            guest = self.hv.guest(facts.name)
            if guest is None:
                continue
            try:
                live = Domain.parse_xml(guest.live_xml())
                for disk in live.devices.disks:
                    name = disk.serial or disk.target.dev
                    disks[(*key, name)] = guest.block_stats(disk.target.dev)
            except LibvirtFailure:
                continue  # stopped between the pass and now
        self.collector.update(vm_states=states, disks=disks)
