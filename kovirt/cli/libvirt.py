"""`kovirt libvirt ...`: the local stack's private libvirtd (start, stop, show, probe)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from kovirt.guest import build_test_guest
from kovirt.localstack.libvirt import LibvirtStack
from kovirt.localstack.paths import cache_dir

app = typer.Typer(
    help=(
        "The local stack's own libvirtd and virtlogd, in a private mount namespace so they "
        "never share files, secrets or domains with a system libvirtd."
    ),
    no_args_is_help=True,
)


class Hypervisor(StrEnum):
    auto = "auto"
    kvm = "kvm"
    qemu = "qemu"


@app.command()
def up(
    hypervisor: Annotated[
        Hypervisor, typer.Option(help="auto = KVM only if a KVM guest really boots here.")
    ] = Hypervisor.auto,
) -> None:
    """Start libvirtd (reused when running) and settle the hypervisor mode."""
    # The probe boots the test guest's kernel, the same one tests and the demo run.
    kernel = build_test_guest(cache_dir("guest")).kernel if hypervisor is Hypervisor.auto else None
    state = LibvirtStack.default().up(hypervisor.value, probe_kernel=kernel)
    _show(LibvirtStack.default(), state)


@app.command()
def down(
    keep_guests: Annotated[
        bool, typer.Option(help="Leave running guests alone (their QEMU outlives libvirtd).")
    ] = False,
) -> None:
    """Destroy guests running in our private instance, then stop libvirtd and virtlogd."""
    stopped = LibvirtStack.default().down(destroy_guests=not keep_guests)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status() -> None:
    """Show pids, URI, versions and hypervisor mode; exit 1 when libvirtd does not answer."""
    stack = LibvirtStack.default()
    state = stack.status()
    _show(stack, state)
    if not state.running:
        raise typer.Exit(1)


@app.command()
def probe() -> None:
    """Run the KVM probe again (ignores and replaces the cached result)."""
    stack = LibvirtStack.default()
    stack.probe_file.unlink(missing_ok=True)
    mode = stack.hypervisor("auto", probe_kernel=build_test_guest(cache_dir("guest")).kernel)
    probe_result = stack.cached_probe()
    typer.echo(f"hypervisor: {mode} ({probe_result.reason if probe_result else ''})")


def _show(stack: LibvirtStack, state) -> None:
    probe_result = stack.cached_probe()
    rows = {
        "libvirtd": f"running (pid {state.libvirtd_pid})" if state.libvirtd_pid else "stopped",
        "virtlogd": f"running (pid {state.virtlogd_pid})" if state.virtlogd_pid else "stopped",
        "uri": state.uri,
        "libvirt": state.libvirt_version or "-",
        "qemu": state.qemu_version or "-",
        "hypervisor": (
            f"{probe_result.mode} ({probe_result.reason}, probed in {probe_result.seconds}s)"
            if probe_result
            else "not probed"
        ),
    }
    for key, value in rows.items():
        typer.echo(f"{key:<12} {value}")
