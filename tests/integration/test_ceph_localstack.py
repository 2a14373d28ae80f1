"""The local Ceph cluster's lifecycle: reuse, status, and a stop that ends only its own daemons."""

from __future__ import annotations

import os
import time

import pytest

from kovirt.ceph import connect, health
from kovirt.localstack.ceph import LocalCeph

pytestmark = pytest.mark.ceph


def test_up_reuses_the_running_cluster_without_restarting_it(ceph_cluster):
    stack = LocalCeph()
    pids_before = [d.pid for d in stack.status().daemons]

    started = time.monotonic()
    info = stack.up(say=lambda _: None)

    assert info.fsid == ceph_cluster.fsid
    assert [d.pid for d in stack.status().daemons] == pids_before
    assert time.monotonic() - started < 5


def test_status_lists_every_daemon_running_and_the_health(ceph_cluster):
    state = LocalCeph().status()
    assert [d.name for d in state.daemons][:2] == ["mon.a", "mgr.x"]
    assert len(state.daemons) == 2 + ceph_cluster.osds
    assert state.running and state.health and state.health.startswith("HEALTH_")


def test_a_second_cluster_stops_only_its_own_daemons(ceph_cluster, tmp_path):
    session_pids = [d.pid for d in LocalCeph().status().daemons]
    other = LocalCeph(tmp_path / "ceph")
    try:
        info = other.up(osds=1, say=lambda _: None)
        with connect(other.credentials()) as cluster:
            assert health.fsid(cluster) == info.fsid != ceph_cluster.fsid
        other_pids = [d.pid for d in other.status().daemons]
    finally:
        stopped = other.down()

    assert stopped == ["osd.0", "mgr.x", "mon.a"]
    assert not any(_alive(pid) for pid in other_pids)
    assert all(_alive(pid) for pid in session_pids)
    assert not other.status().running


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kovirt_ceph_status_shows_the_running_cluster(ceph_cluster):
    from typer.testing import CliRunner

    from kovirt.cli.ceph import app

    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert ceph_cluster.fsid in result.output
    assert "health:   HEALTH_" in result.output
