"""`kovirt-operator`: run the kopf operator (as a process or as the chart's Deployment)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import kopf
import typer

from kovirt.operator import handlers, kube, leader  # handlers: registers the kopf handlers
from kovirt.operator.config import CONFIG
from kovirt.operator.metrics import start_server

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

assert handlers.HANDLER_MODULES


@app.command()
def main(
    metrics_port: Annotated[int, typer.Option(help="Prometheus /metrics port (0: off).")] = 8080,
    health_port: Annotated[int, typer.Option(help="/healthz port for probes (0: off).")] = 8081,
    namespace: Annotated[
        list[str] | None,
        typer.Option(help="Watch only this namespace (repeatable). Default: all namespaces."),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", help="Watch the whole cluster (the default).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the kovirt operator: reconcile DataCenters, StorageDomains, DiskImages and VMs.

    Reads the cluster from the in-cluster service account or $KUBECONFIG. With
    KOVIRT_LEADER_ELECTION=true, replicas elect a leader on a Lease in KOVIRT_NAMESPACE.
    """
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if namespace and all_namespaces:
        raise typer.BadParameter("give --namespace or --all-namespaces, not both")
    if metrics_port:
        start_server(metrics_port)
    if CONFIG.leader_election:
        kube.ensure_namespace(CONFIG.namespace)
        leader.acquire(CONFIG.namespace, CONFIG.leader_election_lease, CONFIG.pod_name)
    liveness = f"http://0.0.0.0:{health_port}/healthz" if health_port else None
    asyncio.run(
        kopf.operator(
            standalone=True,  # one leader at a time is ensured by the Lease above
            clusterwide=not namespace,
            namespaces=namespace or [],
            liveness_endpoint=liveness,
        )
    )


def run() -> None:
    app()


if __name__ == "__main__":
    run()
