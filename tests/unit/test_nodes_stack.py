"""What the nodes-mode stack hands to kubectl and helm (no stack needs to run)."""

from __future__ import annotations

import yaml

from kovirt.localstack.nodes_stack import NodesStack


def test_examples_point_at_the_image_server_on_the_bridge_and_leave_kovirt_system_alone():
    stack = NodesStack(say=lambda _: None)
    docs = [d for d in yaml.safe_load_all(stack.examples()) if d]
    image = next(d for d in docs if d["kind"] == "DiskImage")
    assert image["spec"]["source"]["http"]["url"] == stack.image_url
    assert stack.image_url.startswith(f"http://{stack.address}:")
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    # `kubectl delete -f examples/` must never delete the operator's namespace.
    assert "kovirt-system" not in namespaces


def test_the_chart_is_installed_with_local_values_and_host_folders_in_the_stack():
    stack = NodesStack(say=lambda _: None)
    args = stack.install_args()
    assert args[:4] == ["upgrade", "--install", "kovirt", "charts/kovirt"]
    assert "charts/kovirt/values-local.yaml" in args and "--wait" in args
    host_paths = [a for a in args if a.startswith("agent.hostPaths.")]
    assert [p.split("=", 1)[1].startswith(str(stack.files)) for p in host_paths] == [True, True]
