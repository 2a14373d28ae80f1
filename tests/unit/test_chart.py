"""The Helm chart, rendered and linted by a real helm (built from the Go module proxy)."""

from __future__ import annotations

import functools
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from kovirt.localstack import tools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kovirt"
RELEASE, NAMESPACE = "kv", "kovirt-system"
ALL_ON = (
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "operator.secretNamespaces={ceph-secrets}",
)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(tools.helm()), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@functools.cache
def render(*args: str) -> tuple[dict, ...]:
    out = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def find(docs, kind: str, name: str | None = None) -> list[dict]:
    return [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(docs, kind: str, name: str) -> dict:
    (found,) = find(docs, kind, name)
    return found


def crd_files() -> dict[str, dict]:
    return {
        path.name: yaml.safe_load(path.read_text()) for path in sorted(ROOT.glob("crds/*.yaml"))
    }


def test_helm_lint_passes_with_defaults_and_with_every_option_on():
    helm("lint", "--strict", str(CHART))
    helm("lint", "--strict", str(CHART), *ALL_ON)


def test_the_charts_crds_are_the_generated_ones_not_a_copy():
    link = CHART / "crds"
    assert link.is_symlink() and link.resolve() == (ROOT / "crds").resolve()
    # `helm template --include-crds` is what Argo CD renders.
    shown = find(render("--include-crds"), "CustomResourceDefinition")
    assert sorted(shown, key=lambda crd: crd["metadata"]["name"]) == sorted(
        crd_files().values(), key=lambda crd: crd["metadata"]["name"]
    )


def test_helm_show_crds_prints_one_yaml_document_per_crd():
    # helm joins the files as they are: each must open its own document with `---`.
    shown = [doc for doc in yaml.safe_load_all(helm("show", "crds", str(CHART)).stdout) if doc]
    assert sorted(doc["metadata"]["name"] for doc in shown) == sorted(
        crd["metadata"]["name"] for crd in crd_files().values()
    )


def test_the_packaged_chart_carries_the_crd_files_themselves(tmp_path):
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("kovirt-*.tgz")
    with tarfile.open(archive) as tar:
        packaged = {
            Path(member.name).name: tar.extractfile(member).read().decode()
            for member in tar.getmembers()
            if member.isfile() and member.name.startswith("kovirt/crds/")
        }
        files = {m.name for m in tar.getmembers() if m.isfile()}
    assert packaged == {path.name: path.read_text() for path in ROOT.glob("crds/*.yaml")}
    assert {"kovirt/files/kovirt-rules.yaml", "kovirt/files/kovirt-dashboard.json"} <= files


def test_the_operator_deployment_elects_a_leader_and_exposes_liveness_and_metrics():
    deployment = one(render(), "Deployment", "kv-kovirt-operator")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert deployment["spec"]["replicas"] == 2
    assert env["KOVIRT_LEADER_ELECTION"] == "true"
    assert env["KOVIRT_LEADER_ELECTION_LEASE"] == "kv-kovirt-operator-leader"
    assert ports == {"metrics": 8080, "health": 8081}
    assert "--metrics-port=8080" in container["args"]
    assert "--all-namespaces" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert pod["serviceAccountName"] == "kv-kovirt-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_watch_namespaces_replace_the_cluster_wide_watch():
    docs = render("--set", "operator.watchNamespaces={vms,lab}")
    (container,) = one(docs, "Deployment", "kv-kovirt-operator")["spec"]["template"]["spec"][
        "containers"
    ]
    assert "--all-namespaces" not in container["args"]
    assert {"--namespace=vms", "--namespace=lab"} <= set(container["args"])


def test_the_operator_tells_the_agents_which_service_account_and_image_to_use():
    docs = render()
    (container,) = one(docs, "Deployment", "kv-kovirt-operator")["spec"]["template"]["spec"][
        "containers"
    ]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert one(docs, "ServiceAccount", env["KOVIRT_AGENT_SERVICE_ACCOUNT"])
    assert env["KOVIRT_AGENT_IMAGE"] == "kovirt:0.1.0"
    assert env["KOVIRT_AGENT_METRICS_PORT"] == "9474"


def test_each_component_has_its_own_service_account_bound_to_its_own_roles():
    docs = render()
    accounts = {doc["metadata"]["name"] for doc in find(docs, "ServiceAccount")}
    assert accounts == {"kv-kovirt-operator", "kv-kovirt-agent", "kv-kovirt-uninstall-check"}
    for binding in find(docs, "ClusterRoleBinding") + find(docs, "RoleBinding"):
        (subject,) = binding["subjects"]
        component = binding["metadata"]["labels"]["app.kubernetes.io/component"]
        assert subject["name"] == f"kv-kovirt-{component}"
        assert binding["roleRef"]["name"].startswith(f"kv-kovirt-{component}")


def test_the_uninstall_check_is_a_pre_delete_hook_that_may_only_list_kovirt_objects():
    docs = render()
    job = one(docs, "Job", "kv-kovirt-uninstall-check")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "kovirt-uninstall-check"
    (rule,) = rules_of(docs, "ClusterRole", "kv-kovirt-uninstall-check")
    assert rule["verbs"] == ["list"] and rule["apiGroups"] == ["kovirt.io"]
    hooks = [d for d in docs if "uninstall-check" in d["metadata"]["name"]]
    assert all(d["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete" for d in hooks)
    assert not [d for d in render("--set", "uninstallCheck.enabled=false")
                if "uninstall-check" in d["metadata"]["name"]]  # fmt: skip


def rules_of(docs, kind: str, name: str) -> list[dict]:
    return one(docs, kind, name)["rules"]


def allowed(rules: list[dict], verb: str, group: str, resource: str) -> bool:
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in rules
    )


def test_no_role_uses_wildcards_or_can_grant_itself_more():
    for doc in find(render(*ALL_ON), "ClusterRole") + find(render(*ALL_ON), "Role"):
        for rule in doc["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], doc["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
            assert "rbac.authorization.k8s.io" not in rule["apiGroups"]


def test_the_agent_reads_specs_writes_only_hosts_and_status_and_never_reads_secrets():
    docs = render()
    cluster = rules_of(docs, "ClusterRole", "kv-kovirt-agent")
    local = rules_of(docs, "Role", "kv-kovirt-agent")
    assert allowed(cluster, "patch", "kovirt.io", "virtualmachines/status")
    assert allowed(cluster, "create", "kovirt.io", "hosts")
    assert allowed(local, "update", "coordination.k8s.io", "leases")
    # Patch for its finalizer on its VMs; never update, create or delete a VM.
    assert allowed(cluster, "patch", "kovirt.io", "virtualmachines")
    for verb in ("update", "create", "delete"):
        assert not allowed(cluster, verb, "kovirt.io", "virtualmachines")
    assert not allowed(cluster, "update", "kovirt.io", "storagedomains")
    assert not allowed(cluster + local, "get", "", "secrets")


def test_the_operator_reads_secrets_only_in_its_namespace_and_the_ones_named():
    docs = render(*ALL_ON)
    assert not allowed(rules_of(docs, "ClusterRole", "kv-kovirt-operator"), "get", "", "secrets")
    assert allowed(rules_of(docs, "Role", "kv-kovirt-operator"), "get", "", "secrets")
    extra = one(docs, "Role", "kv-kovirt-operator-secrets")
    assert extra["metadata"]["namespace"] == "ceph-secrets"
    assert extra["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}
    ]


def test_monitoring_objects_are_off_by_default():
    kinds = {doc["kind"] for doc in render()}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def test_the_prometheus_rule_is_the_promtool_tested_rules_file():
    rule = one(render(*ALL_ON), "PrometheusRule", "kv-kovirt")
    expected = yaml.safe_load((ROOT / "deploy" / "prometheus" / "kovirt-rules.yaml").read_text())
    assert rule["spec"] == expected


def test_monitors_select_the_operator_service_and_the_agent_pods():
    docs = render(*ALL_ON)
    service = one(docs, "Service", "kv-kovirt-operator-metrics")
    monitor = one(docs, "ServiceMonitor", "kv-kovirt-operator")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    pods = one(docs, "PodMonitor", "kv-kovirt-agent")
    assert pods["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "agent"


def test_the_grafana_dashboard_configmap_holds_the_dashboard_file():
    config_map = one(render(), "ConfigMap", "kv-kovirt-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(config_map["data"]["kovirt.json"])
    assert shipped == json.loads(
        (ROOT / "deploy" / "grafana" / "kovirt-dashboard.json").read_text()
    )


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("operator.replica=3", "additional properties 'replica' not allowed"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("operator.metricsPort=70000", "metricsPort"),
        ("operator.leaderElection.enabled=false", "replicas"),
    ],
)
def test_the_values_schema_refuses_bad_values(setting, complaint):
    done = helm("template", RELEASE, str(CHART), "--set", setting, check=False)
    assert done.returncode != 0
    assert complaint in done.stderr
