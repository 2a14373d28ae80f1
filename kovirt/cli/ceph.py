"""`kovirt ceph ...`: start, stop and show the local Ceph cluster."""

import typer

app = typer.Typer(help="The local Ceph cluster (mon, mgr, OSDs).", no_args_is_help=True)


@app.command()
def status() -> None:
    """Show the local Ceph cluster's state."""
    raise NotImplementedError
