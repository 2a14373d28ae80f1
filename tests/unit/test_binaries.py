"""Building the control-plane binaries: versions from go.mod, the cache stamp, clear errors."""

from __future__ import annotations

import pytest

from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack import binaries


def test_versions_come_from_the_pinned_wrapper_modules():
    assert binaries.kubernetes().version.startswith("v1.")
    assert binaries.etcd().version.startswith("v3.")


def test_pinned_version_reads_single_line_and_block_requires(tmp_path):
    go_mod = tmp_path / "go.mod"
    go_mod.write_text("module x\n\nrequire (\n\tk8s.io/kubernetes v1.34.4\n\tfoo v1.0.0\n)\n")
    assert binaries.pinned_version(go_mod, "k8s.io/kubernetes") == "v1.34.4"
    go_mod.write_text("module x\n\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n")
    assert binaries.pinned_version(go_mod, "go.etcd.io/etcd/server/v3") == "v3.6.16"


def test_kubernetes_binaries_carry_the_version_in_their_link_flags():
    k8s = binaries.kubernetes()
    flags = k8s.ldflags()
    assert f"-X k8s.io/component-base/version.gitVersion={k8s.version}" in flags
    assert f"-X k8s.io/client-go/pkg/version.gitVersion={k8s.version}" in flags
    assert "-X k8s.io/component-base/version.gitMinor=" in flags


def test_each_binary_set_has_its_own_versioned_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    k8s, etcd = binaries.kubernetes(), binaries.etcd()
    assert k8s.bin_dir == tmp_path / "bin" / f"k8s-{k8s.version}"
    assert etcd.bin_dir == tmp_path / "bin" / f"etcd-{etcd.version}"


def test_a_cache_folder_is_reused_only_with_every_binary_and_a_matching_stamp(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    etcd = binaries.etcd()
    go = "go version go1.99 linux/amd64"
    etcd.bin_dir.mkdir(parents=True)
    (etcd.bin_dir / "etcd").write_text("")
    assert not etcd.is_cached(go)  # no stamp: an interrupted build
    etcd.write_stamp(go)
    assert etcd.is_cached(go)
    assert not etcd.is_cached("go version go1.100 linux/amd64")  # another Go: rebuild
    assert etcd.is_cached(None)  # no Go at all: use what matches the module files
    (etcd.bin_dir / "etcd").unlink()
    assert not etcd.is_cached(go)


def test_missing_go_is_a_missing_dependency_that_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingDependency, match=r"install Go 1\.26 or newer"):
        binaries.ensure_built(echo=lambda _: None)


def test_an_unreachable_module_proxy_is_told_apart_from_a_compile_error():
    offline = (
        'go: k8s.io/api@v0.34.4: Get "https://proxy.golang.org/k8s.io/api/@v/v0.34.4.mod": '
        "dial tcp: lookup proxy.golang.org: no such host"
    )
    error = binaries._build_error("kube-apiserver", binaries.kubernetes(), offline)
    assert error.reason == "ModuleProxyUnreachable"
    assert "GOPROXY" in str(error)
    broken = "./main.go:3:1: syntax error: non-declaration statement outside function body"
    error = binaries._build_error("kube-apiserver", binaries.kubernetes(), broken)
    assert isinstance(error, KovirtError)
    assert error.reason == "BuildFailed"


def test_a_go_too_old_to_switch_toolchains_is_a_missing_dependency(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho 'go version go1.19.8 linux/amd64'\n")
    fake_go.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency, match=r"go1\.19\.8 linux/amd64 is too old.*Go 1\.26"):
        binaries.ensure_built(echo=lambda _: None)
