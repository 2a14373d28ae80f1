"""Small, blocking helpers over the Kubernetes API (call them through asyncio.to_thread).

kopf patches the object a handler runs for; everything else (Secrets, DaemonSets, reading
other kovirt objects) goes through these helpers.
"""

from __future__ import annotations

import base64
import functools
import os
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from kovirt.api.v1alpha1.common import GROUP, VERSION


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        # Read $KUBECONFIG now: the library captures it once, when it is first imported.
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return kubernetes.client.ApiClient()


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client())


def apps() -> kubernetes.client.AppsV1Api:
    return kubernetes.client.AppsV1Api(api_client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


def coordination() -> kubernetes.client.CoordinationV1Api:
    return kubernetes.client.CoordinationV1Api(api_client())


def get_kovirt(plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    """One kovirt object, or None when it does not exist."""
    try:
        if namespace:
            return custom().get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        return custom().get_cluster_custom_object(GROUP, VERSION, plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_kovirt(plural: str, label_selector: str | None = None) -> list[dict[str, Any]]:
    """All objects of a kovirt kind, across namespaces."""
    kwargs = {"label_selector": label_selector} if label_selector else {}
    return custom().list_cluster_custom_object(GROUP, VERSION, plural, **kwargs)["items"]


def patch_kovirt(
    plural: str, name: str, body: dict[str, Any], namespace: str | None = None, status=False
) -> None:
    api = custom()
    if namespace:
        method = (
            api.patch_namespaced_custom_object_status
            if status
            else api.patch_namespaced_custom_object
        )
        method(GROUP, VERSION, namespace, plural, name, body)
    else:
        method = (
            api.patch_cluster_custom_object_status if status else api.patch_cluster_custom_object
        )
        method(GROUP, VERSION, plural, name, body)


def read_secret(namespace: str, name: str) -> dict[str, str] | None:
    """A Secret's data, decoded; None when it does not exist."""
    try:
        secret = core().read_namespaced_secret(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def apply_object(manifest: dict[str, Any]) -> str:
    """Create the object, or replace its spec/data when it differs. Returns what was done.

    Read, compare, then write (rook's habit): an unchanged object is not written, so the
    periodic reconcile causes no API writes and no rollouts.
    """
    kind = manifest["kind"]
    namespace = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    read, create, replace = _verbs(kind)
    try:
        current = api_client().sanitize_for_serialization(read(name, namespace))
    except ApiException as error:
        if error.status != 404:
            raise
        try:
            create(namespace, manifest)
        except ApiException as conflict:
            if conflict.status != 409:  # created meanwhile by a twin run: fine
                raise
        return "created"
    if _same_content(current, manifest):
        return "unchanged"
    manifest = dict(manifest)
    manifest["metadata"] = {
        **manifest["metadata"],
        "resourceVersion": current["metadata"]["resourceVersion"],
    }
    replace(name, namespace, manifest)
    return "updated"


def delete_daemonset(namespace: str, name: str) -> bool:
    """Delete a DaemonSet if it exists; True when one was deleted."""
    try:
        apps().delete_namespaced_daemon_set(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        return False
    return True


def _verbs(kind: str):
    if kind == "Secret":
        api = core()
        return (
            api.read_namespaced_secret,
            api.create_namespaced_secret,
            api.replace_namespaced_secret,
        )
    if kind == "ConfigMap":
        api = core()
        return (
            api.read_namespaced_config_map,
            api.create_namespaced_config_map,
            api.replace_namespaced_config_map,
        )
    if kind == "DaemonSet":
        api = apps()
        return (
            api.read_namespaced_daemon_set,
            api.create_namespaced_daemon_set,
            api.replace_namespaced_daemon_set,
        )
    raise ValueError(f"apply_object does not handle {kind}")


def _same_content(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for key in ("data", "stringData", "spec"):
        if key in wanted and not _contains(current.get(key), wanted[key]):
            return False
    labels = current["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted["metadata"].get("labels", {}).items())


def _contains(current: Any, wanted: Any) -> bool:
    """True when every field we ask for has the value we ask (the server may add defaults)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            _contains(current.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(current) == len(wanted)
            and all(_contains(c, w) for c, w in zip(current, wanted, strict=True))
        )
    return current == wanted


def ensure_namespace(name: str) -> None:
    """Create the namespace if missing (read first: in a cluster the operator may only read)."""
    try:
        core().read_namespace(name)
        return
    except ApiException as error:
        if error.status != 404:
            raise
    try:
        core().create_namespace({"metadata": {"name": name}})
    except ApiException as error:
        if error.status != 409:
            raise
