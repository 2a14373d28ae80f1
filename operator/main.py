"""`kovirt-operator`: run the kopf operator (as a process or as the chart's Deployment)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import kopf
import typer

from kovirt.operator import handlers  # noqa: F401  (registers the handlers)
from kovirt.operator.metrics import start_server

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    metrics_port: Annotated[int, typer.Option(help="Prometheus /metrics port (0: off).")] = 8080,
    liveness_port: Annotated[int, typer.Option(help="/healthz port (0: off).")] = 8081,
    namespace: Annotated[
        list[str] | None,
        typer.Option(help="Watch only these namespaces (default: the whole cluster)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the kovirt operator: reconcile DataCenters, StorageDomains, DiskImages and VMs.

    Reads the cluster from the in-cluster service account or $KUBECONFIG. Run one replica
    (the chart's Deployment uses the Recreate strategy): kopf's standalone mode does no
    peering.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if metrics_port:
        start_server(metrics_port)
    liveness = f"http://0.0.0.0:{liveness_port}/healthz" if liveness_port else None
    asyncio.run(
        kopf.operator(
            standalone=True,
            clusterwide=not namespace,
            namespaces=namespace or [],
            liveness_endpoint=liveness,
        )
    )


def run() -> None:
    app()


if __name__ == "__main__":
    run()
