"""The Grafana dashboard in deploy/grafana: well formed, and it only queries kovirt's metrics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from kovirt.localstack import tools
from tests.unit.test_prometheus_rules import metric_names, unknown_metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "kovirt-dashboard.json"
# Grafana's own variables, replaced by values PromQL accepts so promtool can parse queries.
GRAFANA_MACROS = {"$__rate_interval": "5m", "$host": ".*", "$namespace": ".*"}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def test_every_metric_the_dashboard_queries_is_one_kovirt_exports():
    named = set().union(*(metric_names(expr) for expr in queries()))
    assert len(named) > 10
    assert unknown_metrics(named) == set()


def test_every_query_names_a_kovirt_metric():
    for expr in queries():
        assert metric_names(expr), expr


def test_every_query_is_valid_promql(tmp_path):
    # promtool has no bare expression parser; recording rules make it parse each query.
    rules = []
    for number, expr in enumerate(queries()):
        for macro, value in GRAFANA_MACROS.items():
            expr = expr.replace(macro, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [str(tools.promtool()), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_covers_storage_hosts_vms_and_disks():
    named = set().union(*(metric_names(expr) for expr in queries()))
    wanted = {
        "kovirt_ceph_health",
        "kovirt_ceph_capacity_bytes",
        "kovirt_storagedomain_used_bytes",
        "kovirt_storagedomain_quota_bytes",
        "kovirt_storagedomain_active",
        "kovirt_host_ready",
        "kovirt_vm_phase",
        "kovirt_agent_disk_read_ops_total",
        "kovirt_agent_disk_write_bytes_total",
        "kovirt_agent_disk_read_time_seconds_total",
    }
    assert wanted <= named
    titles = {panel["title"] for panel in panels()}
    assert {"VMs by phase", "Disk IOPS", "Disk throughput"} <= titles


def test_panels_use_the_datasource_variable_and_have_unique_ids():
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_fit_the_24_column_grid_without_overlapping():
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
