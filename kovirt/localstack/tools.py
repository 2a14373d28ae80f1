"""The packaging tools the tests drive: helm (built from Go), promtool and lua (Debian).

helm has no Debian package in bookworm and nothing can be downloaded but modules, so it is
built once with `go install helm.sh/helm/v3/cmd/helm@<version>` into
``cache_dir("bin")/helm-<version>/`` and reused after that. promtool and the Lua
interpreter come from Debian packages listed in packaging/apt-packages-dev.txt. Each
finder raises MissingDependency with the command that installs what is missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack.binaries import GO_INSTALL_HINT, pinned_version
from kovirt.localstack.paths import cache_dir

HELM_VERSION = "v3.19.5"
HELM_PACKAGE = "helm.sh/helm/v3/cmd/helm"
# Argo CD runs health checks in gopher-lua, which implements Lua 5.1: prefer that dialect.
LUA_PROGRAMS = ("lua5.1", "lua5.4", "lua")


def helm(version: str = HELM_VERSION, echo=print) -> Path:
    """The helm binary for version, built with `go install` on first use."""
    bin_dir = cache_dir("bin") / f"helm-{version}"
    target = bin_dir / "helm"
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise MissingDependency(f"Go is needed to build helm {version}: {GO_INSTALL_HINT}")
    bin_dir.mkdir(parents=True, exist_ok=True)
    # Two test sessions may ask at once: the second waits for the first build and reuses it.
    with open(bin_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        echo(f"building helm {version} (go install {HELM_PACKAGE}@{version})")
        started = time.monotonic()
        staging = bin_dir / ".staging"
        env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(staging)}
        ldflags = " ".join(("-s -w", *_helm_version_flags(go, version, env)))
        _run_go([go, "install", "-ldflags", ldflags, f"{HELM_PACKAGE}@{version}"], env)
        (staging / "helm").replace(target)  # atomic: never a half-written helm
        echo(f"built helm {version} in {time.monotonic() - started:.0f}s -> {target}")
    return target


def _helm_version_flags(go: str, version: str, env: dict[str, str]) -> tuple[str, ...]:
    """The -X flags helm's Makefile sets; without them a `go install`ed helm says "v3.19"
    and renders charts for Kubernetes 1.20 (its default capabilities), not for the
    Kubernetes its client-go was made for."""
    info = json.loads(_run_go([go, "mod", "download", "-json", f"helm.sh/helm/v3@{version}"], env))
    client_go = pinned_version(Path(info["GoMod"]), "k8s.io/client-go")  # e.g. v0.34.2
    minor = client_go.split(".")[1]
    flags = [f"-X helm.sh/helm/v3/internal/version.version={version}"]
    for package in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        # client-go v0.X.Y belongs to Kubernetes 1.X (the Makefile adds 1 to the major).
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={minor}"]
    return tuple(flags)


def _run_go(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise KovirtError(
            f"`{' '.join(argv)}` failed (is the Go module proxy reachable?):\n{tail}",
            reason="BuildFailed",
        )
    return done.stdout


def promtool() -> Path:
    """Prometheus' rule checker, from Debian's prometheus package."""
    return _debian_program("promtool", "prometheus")


def lua() -> Path:
    """A Lua interpreter for the Argo CD health checks (Debian's lua5.1)."""
    for name in LUA_PROGRAMS:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise MissingDependency(
        "no Lua interpreter found: apt-get install lua5.1 "
        "(listed in packaging/apt-packages-dev.txt)"
    )


def _debian_program(name: str, package: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise MissingDependency(
            f"{name} is missing: apt-get install {package} "
            "(listed in packaging/apt-packages-dev.txt)"
        )
    return Path(found)
