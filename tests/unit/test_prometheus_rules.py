"""The alert rules in deploy/prometheus, checked and unit-tested by Debian's promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from kovirt import metrics
from kovirt.localstack import tools

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "kovirt-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "kovirt-rules.test.yaml"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# What storage operators watch (issue 9): each concern has at least one alert.
ALERTS_BY_CONCERN = {
    "Ceph health not OK": {"KovirtCephHealthWarning", "KovirtCephHealthError"},
    "pool near quota": {"KovirtStorageDomainNearQuota"},
    "storage domain not Active": {"KovirtStorageDomainNotActive"},
    "host heartbeat lost": {"KovirtHostHeartbeatLost", "KovirtAgentHeartbeatStale"},
    "VM failed": {"KovirtVirtualMachineFailed"},
    "disk latency high": {"KovirtDiskLatencyHigh"},
}


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bkovirt_[a-z0-9_]+\b", expr))


def unknown_metrics(names: set[str]) -> set[str]:
    """Names kovirt/metrics.py does not define (histograms count with their suffixes)."""

    def known(name: str) -> bool:
        if name in metrics.BY_NAME:
            return True
        for suffix in HISTOGRAM_SUFFIXES:
            base = name.removesuffix(suffix)
            if base != name and getattr(metrics.BY_NAME.get(base), "kind", "") == "histogram":
                return True
        return False

    return {name for name in names if not known(name)}


def alerting_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.promtool()), *args], cwd=RULES.parent, capture_output=True, text=True
    )


def test_promtool_accepts_the_rules_file():
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_every_alert_pass():
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_each_concern_storage_operators_watch_has_an_alert():
    names = {rule["alert"] for rule in alerting_rules()}
    for concern, alerts in ALERTS_BY_CONCERN.items():
        assert alerts <= names, f"no alert for {concern}"


def test_every_alert_has_a_promtool_test_that_expects_it_to_fire():
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alerting_rules()} == tested


def test_every_alert_has_a_severity_a_summary_and_a_description():
    for rule in alerting_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_the_rules_name_only_metrics_that_kovirt_exports():
    named = set().union(*(metric_names(rule["expr"]) for rule in alerting_rules()))
    assert named, "the rules name no kovirt metric: the check would prove nothing"
    assert unknown_metrics(named) == set()


def test_a_misspelt_metric_would_be_caught():
    assert unknown_metrics({"kovirt_host_redy", "kovirt_reconcile_total_bucket"}) == {
        "kovirt_host_redy",
        "kovirt_reconcile_total_bucket",
    }
    assert unknown_metrics({"kovirt_disk_provision_seconds_bucket"}) == set()
