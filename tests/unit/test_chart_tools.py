"""Finding the packaging tools: a missing one fails loudly, naming the command to install it."""

from __future__ import annotations

import pytest

from kovirt.errors import MissingDependency
from kovirt.localstack import tools


def test_helm_without_go_or_a_cached_build_names_the_go_install(tmp_path, monkeypatch):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingDependency, match=r"Go is needed to build helm.*golang-go"):
        tools.helm()


def test_a_cached_helm_is_reused_without_go(tmp_path, monkeypatch):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cached = tmp_path / "bin" / f"helm-{tools.HELM_VERSION}" / "helm"
    cached.parent.mkdir(parents=True)
    cached.write_text("")
    assert tools.helm() == cached


@pytest.mark.parametrize(
    ("finder", "install"),
    [(tools.promtool, "apt-get install prometheus"), (tools.lua, "apt-get install lua5.1")],
)
def test_missing_debian_tools_name_their_package(finder, install, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingDependency, match=install):
        finder()
