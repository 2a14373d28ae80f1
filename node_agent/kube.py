"""The agent's Kubernetes calls (blocking): its VMs, their status, Host, Lease and Events.

Everything the agent writes is a JSON merge patch of only its own fields (docs/
architecture.md, status ownership): VM `status.phase` from Starting on and
`status.runtime`, its finalizer, the Host, its Lease, and Events.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from kovirt.api.v1alpha1.common import GROUP, VERSION

log = logging.getLogger(__name__)


def load_client() -> kubernetes.client.ApiClient:
    """In-cluster service account when in a pod, else $KUBECONFIG / ~/.kube/config."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


def host_owner_reference(host: dict[str, Any]) -> dict[str, str]:
    """An ownerReference to a Host: its Lease goes with it (garbage collection). No
    blockOwnerDeletion: that would need finalizer rights on Hosts, and nothing waits."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Host",
        "name": host["metadata"]["name"],
        "uid": host["metadata"]["uid"],
    }


def micro_time(now: datetime | None = None) -> str:
    """RFC 3339 with exactly six fractional digits, as a Lease's MicroTime must be."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Kube:
    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self.client = client
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)
        self.coordination = kubernetes.client.CoordinationV1Api(client)

    # -- VirtualMachines ------------------------------------------------------------------

    def list_vms(self, label_selector: str) -> tuple[list[dict[str, Any]], str]:
        """VMs carrying the label (server-side selector) and the list's resourceVersion."""
        result = self.custom.list_cluster_custom_object(
            GROUP, VERSION, "virtualmachines", label_selector=label_selector
        )
        return result["items"], result["metadata"].get("resourceVersion", "")

    def watch_vms(self, label_selector: str, resource_version: str, timeout_s: int):
        """A stream of watch events for the labelled VMs (ends after timeout_s)."""
        watch = kubernetes.watch.Watch()
        return watch, watch.stream(
            self.custom.list_cluster_custom_object,
            GROUP,
            VERSION,
            "virtualmachines",
            label_selector=label_selector,
            resource_version=resource_version,
            timeout_seconds=timeout_s,
            allow_watch_bookmarks=True,
        )

    def get_vm(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "virtualmachines", name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def patch_vm_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "virtualmachines", name, {"status": status}
        )

    def set_vm_finalizers(
        self, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> None:
        """Replace the finalizer list; resourceVersion makes a concurrent change a 409."""
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}}
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "virtualmachines", name, body
        )

    def get_storage_domain(self, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_cluster_custom_object(GROUP, VERSION, "storagedomains", name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    # -- Host -----------------------------------------------------------------------------

    def get_host(self, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_cluster_custom_object(GROUP, VERSION, "hosts", name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create_host(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_cluster_custom_object(GROUP, VERSION, "hosts", body)

    def patch_host(self, name: str, body: dict[str, Any], status: bool = False) -> None:
        if status:
            self.custom.patch_cluster_custom_object_status(GROUP, VERSION, "hosts", name, body)
        else:
            self.custom.patch_cluster_custom_object(GROUP, VERSION, "hosts", name, body)

    # -- Lease ----------------------------------------------------------------------------

    def renew_lease(self, namespace: str, name: str, holder: str, duration_s: int) -> None:
        """Renew (or create) the Lease of the Host named holder: renewTime is the heartbeat.

        A Lease is created owned by its Host, so deleting the Host garbage-collects it; with
        the Host gone none is created (it would outlive everything that reads it)."""
        now = micro_time()
        spec = {"holderIdentity": holder, "leaseDurationSeconds": duration_s, "renewTime": now}
        try:
            self.coordination.patch_namespaced_lease(name, namespace, {"spec": spec})
            return
        except ApiException as error:
            if error.status != 404:
                raise
        host = self.get_host(holder)
        if host is None:
            raise LookupError(f"Host {holder} does not exist: Lease {namespace}/{name} not made")
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "ownerReferences": [host_owner_reference(host)],
            },
            "spec": {**spec, "acquireTime": now},
        }
        try:
            self.coordination.create_namespaced_lease(namespace, body)
        except ApiException as error:
            if error.status != 409:  # created meanwhile: the next renewal patches it
                raise

    def own_lease(self, namespace: str, name: str, host: dict[str, Any]) -> None:
        """Make an existing Lease owned by the Host (one made by an agent that did not set
        the owner, or for an earlier Host of that name); no Lease: nothing to do."""
        try:
            lease = self.coordination.read_namespaced_lease(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        owners = lease.metadata.owner_references or []
        if [owner.uid for owner in owners] != [host["metadata"]["uid"]]:
            patch = {"metadata": {"ownerReferences": [host_owner_reference(host)]}}
            self.coordination.patch_namespaced_lease(name, namespace, patch)

    # -- Events ---------------------------------------------------------------------------

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, host: str) -> None:
        """A core/v1 Event on a kovirt object; failures are logged, never raised (Events
        are best effort: the lasting facts are in status)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = micro_time()
        body = {
            "metadata": {
                "name": f"{meta['name']}.{uuid.uuid4().hex[:12]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": obj.get("kind", "VirtualMachine"),
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": "kovirt-agent", "host": host},
            "firstTimestamp": now[:19] + "Z",
            "lastTimestamp": now[:19] + "Z",
            "count": 1,
            "reportingComponent": "kovirt.io/node-agent",
            "reportingInstance": host,
        }
        try:
            self.core.create_namespaced_event(namespace, body)
        except ApiException as error:
            log.warning("could not post Event %s on %s: %s", reason, meta["name"], error.reason)
