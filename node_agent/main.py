"""`kovirt-agent`: the node agent, as a host process (local stack) or the DaemonSet's
container. Every setting is a flag or an environment variable; nothing assumes host paths.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from kovirt.node_agent.config import AgentConfig, parse_labels

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    host_name: Annotated[str, typer.Option(envvar="KOVIRT_HOST_NAME", help="Host object name.")],
    data_center: Annotated[
        str, typer.Option(envvar="KOVIRT_DATACENTER", help="DataCenter of this host.")
    ],
    ceph_monitors: Annotated[
        str, typer.Option(envvar="KOVIRT_CEPH_MONITORS", help="Ceph monitor addresses.")
    ],
    ceph_user: Annotated[
        str, typer.Option(envvar="KOVIRT_CEPH_USER", help="The agents' cephx id (no client.).")
    ],
    ceph_key: Annotated[
        str,
        typer.Option(
            envvar="KOVIRT_CEPH_KEY", help="Its cephx key (least privilege).", show_default=False
        ),
    ],
    libvirt_uri: Annotated[
        str, typer.Option(envvar="KOVIRT_LIBVIRT_URI", help="libvirt connection URI.")
    ] = "qemu:///system",
    hypervisor: Annotated[
        str, typer.Option(envvar="KOVIRT_HYPERVISOR", help="auto, kvm or qemu.")
    ] = "auto",
    libvirt_mode: Annotated[
        str,
        typer.Option(
            envvar="KOVIRT_LIBVIRT_MODE",
            help="pod: libvirtd runs in kovirt's libvirt pod (kovirt-libvirtd), which hides "
            "/dev/kvm when the KVM probe says emulation; host: any other libvirtd.",
        ),
    ] = "host",
    host_labels: Annotated[
        str, typer.Option(envvar="KOVIRT_HOST_LABELS", help="Host labels: k=v,k2=v2.")
    ] = "",
    namespace: Annotated[
        str, typer.Option(envvar="KOVIRT_NAMESPACE", help="Namespace of the host Lease.")
    ] = "kovirt-system",
    state_dir: Annotated[
        Path,
        typer.Option(
            envvar="KOVIRT_STATE_DIR",
            help="Console logs and the probe cache; libvirtd must see the same path.",
        ),
    ] = Path("/var/lib/kovirt-agent"),
    metrics_port: Annotated[
        int, typer.Option(envvar="KOVIRT_METRICS_PORT", help="Prometheus port (0: off).")
    ] = 9474,
    lease_duration: Annotated[
        int, typer.Option(envvar="KOVIRT_LEASE_DURATION", help="Lease duration, seconds.")
    ] = 20,
    resync: Annotated[
        float, typer.Option(envvar="KOVIRT_RESYNC_SECONDS", help="Full resync period, s.")
    ] = 5.0,
    stop_timeout: Annotated[
        float, typer.Option(envvar="KOVIRT_STOP_TIMEOUT", help="ACPI shutdown grace, s.")
    ] = 30.0,
    memory_reserve: Annotated[
        str, typer.Option(envvar="KOVIRT_MEMORY_RESERVE", help="Memory kept for the host.")
    ] = "1Gi",
    probe_kernel: Annotated[
        Path | None,
        typer.Option(envvar="KOVIRT_PROBE_KERNEL", help="Kernel the KVM probe boots."),
    ] = None,
    log_level: Annotated[str, typer.Option(envvar="KOVIRT_LOG_LEVEL")] = "info",
) -> None:
    """Run the kovirt node agent: register the Host, renew its Lease, and run the
    VirtualMachines placed on it (label kovirt.io/host=<host>) as libvirt domains on RBD.

    Reads the cluster from the in-cluster service account or $KUBECONFIG.
    """
    from kovirt.api.quantity import quantity_to_int
    from kovirt.errors import KovirtError
    from kovirt.node_agent.agent import Agent

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if hypervisor not in ("auto", "kvm", "qemu"):
        raise typer.BadParameter("must be auto, kvm or qemu", param_hint="--hypervisor")
    config = AgentConfig(
        host_name=host_name,
        data_center=data_center,
        ceph_monitors=ceph_monitors,
        ceph_user=ceph_user.removeprefix("client."),
        ceph_key=ceph_key,
        libvirt_uri=libvirt_uri,
        hypervisor=hypervisor,  # type: ignore[arg-type]
        libvirt_mode=libvirt_mode,
        host_labels=parse_labels(host_labels),
        namespace=namespace,
        state_dir=state_dir,
        metrics_port=metrics_port,
        lease_duration_s=lease_duration,
        resync_s=resync,
        stop_timeout_s=stop_timeout,
        memory_reserve_bytes=quantity_to_int(memory_reserve),
        probe_kernel=probe_kernel,
    )
    agent = Agent(config)
    try:
        agent.start()
    except KovirtError as error:
        # A setting or dependency the agent cannot run without: say which, exit non-zero.
        logging.getLogger("kovirt.node_agent").error("cannot start (%s): %s", error.reason, error)
        raise typer.Exit(2) from error

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("kovirt.node_agent").info("signal %d: stopping", signum)
        agent.stopping.set()
        agent.wake.set()
        watchdog = threading.Timer(STOP_GRACE_S, exit_stuck)
        watchdog.daemon = True  # a clean stop exits at once
        watchdog.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run()
    agent.stop()
    logging.getLogger("kovirt.node_agent").info("kovirt agent stopped")


STOP_GRACE_S = 10.0


def exit_stuck() -> None:
    """A pass stuck in a libvirt or API call must not hold a stop past the kubelet's grace
    period: guests keep running either way, and the Lease expiry says NotReady instead.
    The stacks go to stderr so that the hang can be found."""
    logging.getLogger("kovirt.node_agent").warning(
        "still busy %.0fs after the stop signal: exiting without a clean stop", STOP_GRACE_S
    )
    faulthandler.dump_traceback(all_threads=True)
    os._exit(0)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
