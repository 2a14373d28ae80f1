"""`kovirt-agent`'s command line: every setting is a flag with an environment variable."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from kovirt.node_agent.main import app

ENV_VARS = (
    "KOVIRT_HOST_NAME",
    "KOVIRT_DATACENTER",
    "KOVIRT_HYPERVISOR",
    "KOVIRT_LIBVIRT_MODE",
    "KOVIRT_CEPH_MONITORS",
    "KOVIRT_CEPH_USER",
    "KOVIRT_CEPH_KEY",
    "KOVIRT_LIBVIRT_URI",
    "KOVIRT_HOST_LABELS",
    "KOVIRT_NAMESPACE",
    "KOVIRT_STATE_DIR",
)


def test_help_names_every_environment_variable_the_daemonset_and_local_stack_pass():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    text = re.sub(r"\s+", " ", result.output)
    missing = [name for name in ENV_VARS if name not in text]
    assert not missing, text


def test_a_missing_required_setting_is_refused_before_anything_starts():
    result = CliRunner().invoke(app, [], env={"KOVIRT_HOST_NAME": "h1"})
    assert result.exit_code == 2
