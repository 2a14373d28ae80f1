"""The image builder: the Dockerfile's run-time package list, content-addressed caching, and a
pause image that really runs (gcc and umoci are real here; mmdebstrap is exercised by the
integration tests)."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import time

from kovirt.localstack import images
from kovirt.localstack.paths import repo_root
from tests.unit.test_dockerfile import (
    DEV_PACKAGE_LIST,
    PACKAGE_LIST,
    apt_filter,
    listed,
    packages_by,
    runtime_stage,
)


def dockerfile_packages() -> list[str]:
    install = next(run for run in runtime_stage().args_of("RUN") if "apt-get install" in run)
    return packages_by(apt_filter(install, str(repo_root() / PACKAGE_LIST)))


def test_the_builder_installs_exactly_the_packages_the_dockerfile_installs():
    assert images.package_list() == dockerfile_packages() == listed(PACKAGE_LIST)
    assert not set(images.package_list()) & set(listed(DEV_PACKAGE_LIST))


def test_the_package_list_reader_skips_comments_and_blank_lines(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\npython3\n\n  # indented comment\ntini  \n")
    assert images.package_list(listing) == ["python3", "tini"]


def test_mmdebstrap_gets_every_listed_package_and_apts_own_sources():
    argv = images._mmdebstrap_argv(repo_root() / "x.tar", repo_root() / "py.json")
    include = next(arg for arg in argv if arg.startswith("--include="))
    assert include.removeprefix("--include=").split(",") == images.package_list()
    assert argv[0] == "mmdebstrap" and images.SUITE in argv
    if images.APT_SOURCES.is_file():
        assert argv[-1] == str(images.APT_SOURCES)


def test_the_base_layer_makes_the_venv_and_user_the_dockerfile_makes():
    hooks = " ".join(images._mmdebstrap_argv(repo_root() / "x.tar", repo_root() / "p.json"))
    assert f"python3 -m venv --system-site-packages {images.VENV}" in hooks
    assert f'{images.VENV}/bin/python -c "import rados, rbd, libvirt' in hooks
    assert f"useradd --system --uid {images.USER_ID}" in hooks
    runs = " ".join(runtime_stage().args_of("RUN"))
    assert f"--uid {images.USER_ID}" in runs
    assert f"venv --system-site-packages {images.VENV}" in runs


def test_a_changed_package_list_changes_both_image_digests(monkeypatch):
    base, app = images.base_digest(), images.kovirt_digest()
    original = images.package_list
    monkeypatch.setattr(images, "package_list", lambda path=None: [*original(path), "extra"])
    assert images.base_digest() != base
    assert images.kovirt_digest() != app


def test_the_same_inputs_give_the_same_digests():
    assert images.kovirt_digest() == images.kovirt_digest()
    assert images.pause_digest() == images.pause_digest()


def test_a_source_change_changes_the_kovirt_digest_but_not_the_base(monkeypatch, tmp_path):
    for entry in images.WHEEL_INPUTS:
        path = tmp_path / entry
        if entry.endswith((".toml", ".md")):
            path.write_text("x")
        else:
            path.mkdir()
            (path / "__init__.py").write_text("")
    monkeypatch.setattr(images, "repo_root", lambda: tmp_path)
    monkeypatch.setattr(images, "base_digest", lambda: "base")
    before = images.kovirt_digest()
    (tmp_path / "kovirt" / "__init__.py").write_text("VERSION = 2\n")
    assert images.kovirt_digest() != before


def test_bytecode_and_caches_are_not_wheel_inputs():
    files = images.wheel_input_files()
    assert files, "the kovirt sources are inputs"
    assert not [f for f in files if "__pycache__" in f.parts or f.suffix == ".pyc"]


def test_the_pause_image_is_an_oci_archive_whose_program_sleeps_until_terminated(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    pause = images.planned_images().pause
    images.build_pause(pause)
    assert pause.is_complete()
    with tarfile.open(pause.archive) as archive:
        index = json.load(archive.extractfile("index.json"))
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == pause.tag
    rootfs = tmp_path / "rootfs"
    subprocess.run(
        ["umoci", "raw", "unpack", "--rootless", "--image", f"{pause.layout}:{pause.tag}", rootfs],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen([rootfs / "pause"])
    time.sleep(0.3)
    assert proc.poll() is None, "pause must keep running"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0


def test_a_failed_build_leaves_no_image_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("KOVIRT_CACHE_DIR", str(tmp_path))
    pause = images.planned_images().pause
    monkeypatch.setattr(images, "PAUSE_SOURCE", "this is not C")
    try:
        images.build_pause(pause)
    except images.KovirtError as error:
        assert "gcc" in str(error)
    else:
        raise AssertionError("a compile error must fail the build")
    assert not pause.folder.exists()
