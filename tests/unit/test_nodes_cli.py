"""`kovirt nodes` and `kovirt image` sub-apps, without starting anything."""

from __future__ import annotations

from typer.testing import CliRunner

from kovirt.cli import image as image_cli
from kovirt.cli import nodes as nodes_cli


def test_image_list_shows_both_images_and_that_an_empty_cache_has_none_built(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(image_cli.app, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0].split(":")[0] for line in lines] == [
        "kovirt.local/kovirt",
        "kovirt.local/pause",
    ]
    assert all("not built" in line for line in lines)


def test_nodes_status_of_a_stack_that_never_ran_says_unknown_and_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(nodes_cli.app, ["status"])
    assert result.exit_code == 1
    assert "kv-node-1" in result.output and "unknown" in result.output


def test_stopping_a_node_the_stack_does_not_have_names_the_ones_it_has(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(nodes_cli.app, ["stop", "kv-node-9"])
    assert result.exit_code != 0
    assert "kv-node-1, kv-node-2" in str(result.exception)
