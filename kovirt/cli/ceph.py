"""`kovirt ceph ...`: start, stop and show the local Ceph cluster."""

from __future__ import annotations

import typer

from kovirt.localstack.ceph import DEFAULT_OSD_BYTES, DEFAULT_OSDS, LocalCeph

app = typer.Typer(help="The local Ceph cluster (mon, mgr, OSDs).", no_args_is_help=True)


@app.command()
def up(
    osds: int = typer.Option(DEFAULT_OSDS, "--osds", min=1, help="Number of memstore OSDs."),
    osd_gib: int = typer.Option(
        DEFAULT_OSD_BYTES // 1024**3,
        "--osd-gib",
        min=1,
        help="Capacity each OSD reports (GiB); RAM is used only for data written.",
    ),
    timeout: float = typer.Option(120.0, help="Seconds to wait for the cluster to be ready."),
) -> None:
    """Create or start the local cluster (reuses a running one) and wait until it is ready."""
    info = LocalCeph().up(osds=osds, osd_bytes=osd_gib * 1024**3, timeout_s=timeout)
    typer.echo(f"fsid:     {info.fsid}")
    typer.echo(f"mon_host: {info.mon_host}")
    typer.echo(f"conf:     {info.conf_path}")
    typer.echo(f"keyring:  {info.admin_keyring_path}")
    typer.echo(f"try:      ceph -c {info.conf_path} -s")


@app.command()
def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete the cluster's state folder."),
) -> None:
    """Stop the local cluster's daemons (only those it started)."""
    stopped = LocalCeph().down(purge=purge)
    typer.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status() -> None:
    """Show the local Ceph cluster's daemons and health."""
    state = LocalCeph().status()
    if state.info is None:
        typer.echo("no local Ceph cluster (run `kovirt ceph up`)")
        raise typer.Exit(1)
    typer.echo(f"fsid:     {state.info.fsid}")
    typer.echo(f"mon_host: {state.info.mon_host}")
    typer.echo(f"conf:     {state.info.conf_path}")
    for daemon in state.daemons:
        typer.echo(
            f"{daemon.name:10} {'running pid ' + str(daemon.pid) if daemon.pid else 'stopped'}"
        )
    typer.echo(f"health:   {state.health or 'not answering'}")
    if not state.running:
        raise typer.Exit(1)
