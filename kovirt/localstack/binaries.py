"""Build the control plane's binaries from the pinned Go modules in hack/, or reuse the cache.

No package ships kube-apiserver and nothing can be pulled as an image here, so kovirt
compiles etcd and the Kubernetes commands itself. The versions come from the wrapper
modules (hack/k8s/go.mod, hack/etcd/go.mod): bumping a version there is the only edit
needed. Each set of binaries lands in ``cache_dir("bin")/<set>-<version>/`` with a stamp
holding a hash of its go.mod, go.sum, flags and Go version; a folder whose files all exist
and whose stamp matches is reused as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack.paths import cache_dir, repo_root

Echo = Callable[[str], None]

GO_INSTALL_HINT = (
    "install Go 1.26 or newer (etcd v3.6.16 requires it; Debian 12's golang-go is 1.19): "
    "`curl -fsSL https://go.dev/dl/go1.26.0.linux-amd64.tar.gz | tar -C /usr/local -xz` "
    "and add /usr/local/go/bin to PATH. Any Go from 1.21 on also works: it fetches the "
    "newer toolchain from the module proxy by itself (GOTOOLCHAIN=auto)"
)
# Go before 1.21 cannot switch toolchains, so it cannot build modules that need a newer Go.
_MIN_GO = (1, 21)
# Substrings of `go` errors that mean the module proxy could not be reached, as opposed
# to a compile error: they get a different message because the fix is different.
_NETWORK_ERRORS = (
    "dial tcp",
    "no such host",
    "i/o timeout",
    "connection refused",
    "network is unreachable",
    "TLS handshake timeout",
    "proxyconnect",
)
_HEARTBEAT_S = 30.0
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# Built only when real nodes are wanted (`kovirt nodes up`), into a folder of their own, so
# the control plane alone never waits for them (same pinned module, same version).
K8S_NODE_COMMANDS = ("kubelet", "kube-proxy")


@dataclass(frozen=True)
class BinarySet:
    """Binaries built from one wrapper Go module (one version, one cache folder)."""

    name: str
    module_dir: Path
    pinned_module: str
    commands: tuple[tuple[str, str], ...]  # (binary name, Go package)

    @property
    def version(self) -> str:
        return pinned_version(self.module_dir / "go.mod", self.pinned_module)

    @property
    def bin_dir(self) -> Path:
        return cache_dir("bin") / f"{self.name}-{self.version}"

    @property
    def binaries(self) -> tuple[str, ...]:
        return tuple(binary for binary, _ in self.commands)

    def path(self, binary: str) -> Path:
        return self.bin_dir / binary

    def ldflags(self) -> str:
        return " ".join(("-s", "-w", *_version_stamp_flags(self.name, self.version)))

    def stamp(self, go_version: str) -> str:
        """What the cached binaries were built from; any change means a rebuild."""
        digest = hashlib.sha256()
        for part in ("go.mod", "go.sum"):
            digest.update((self.module_dir / part).read_bytes())
        digest.update(f"{self.ldflags()}|{go_version}|{self.commands}".encode())
        return digest.hexdigest()

    def is_cached(self, go_version: str | None) -> bool:
        """All binaries exist and were built from the same inputs (go_version None: any Go)."""
        if not all(self.path(binary).is_file() for binary in self.binaries):
            return False
        try:
            recorded = (self.bin_dir / ".stamp").read_text().split()
        except FileNotFoundError:
            return False
        if go_version is None:
            # Without Go on the machine we cannot rebuild anyway; accept the binaries if
            # they match the module files, whatever Go built them.
            return len(recorded) == 2 and recorded[1] == self._module_digest()
        return recorded[:1] == [self.stamp(go_version)]

    def write_stamp(self, go_version: str) -> None:
        (self.bin_dir / ".stamp").write_text(f"{self.stamp(go_version)} {self._module_digest()}\n")

    def _module_digest(self) -> str:
        digest = hashlib.sha256()
        for part in ("go.mod", "go.sum"):
            digest.update((self.module_dir / part).read_bytes())
        return digest.hexdigest()


def _version_stamp_flags(name: str, version: str) -> tuple[str, ...]:
    if name in ("k8s", "k8s-node"):
        major, minor = version.lstrip("v").split(".")[:2]
        # Both packages carry a version: the servers report component-base's, kubectl's
        # client half reports client-go's (the same list Kubernetes' hack/lib/version.sh sets).
        flags: list[str] = []
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [
                f"-X {package}.gitVersion={version}",
                f"-X {package}.gitMajor={major}",
                f"-X {package}.gitMinor={minor}",
                f"-X {package}.gitTreeState=clean",
            ]
        return tuple(flags)
    if name == "etcd":
        # etcd's own build script stamps the git commit; a module build has none, so
        # record the version instead of "Not provided".
        return (f"-X go.etcd.io/etcd/api/v3/version.GitSHA={version}",)
    return ()


def pinned_version(go_mod: Path, module: str) -> str:
    """The version go.mod requires for module (single-line or block `require`)."""
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", re.MULTILINE)
    match = pattern.search(go_mod.read_text())
    if not match:
        raise KovirtError(f"{go_mod} does not require {module}")
    return match.group(1)


def kubernetes() -> BinarySet:
    return BinarySet(
        name="k8s",
        module_dir=repo_root() / "hack" / "k8s",
        pinned_module="k8s.io/kubernetes",
        commands=tuple((command, f"k8s.io/kubernetes/cmd/{command}") for command in K8S_COMMANDS),
    )


def kubernetes_node() -> BinarySet:
    """kubelet and kube-proxy, from the same wrapper module as the control plane."""
    return BinarySet(
        name="k8s-node",
        module_dir=repo_root() / "hack" / "k8s",
        pinned_module="k8s.io/kubernetes",
        commands=tuple(
            (command, f"k8s.io/kubernetes/cmd/{command}") for command in K8S_NODE_COMMANDS
        ),
    )


def etcd() -> BinarySet:
    # The server module's root package is etcd's main (see hack/etcd/tools.go).
    return BinarySet(
        name="etcd",
        module_dir=repo_root() / "hack" / "etcd",
        pinned_module="go.etcd.io/etcd/server/v3",
        commands=(("etcd", "go.etcd.io/etcd/server/v3"),),
    )


@dataclass(frozen=True)
class Binaries:
    """Paths of the built control-plane programs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path

    @property
    def kubectl_dir(self) -> Path:
        """The folder to put first on PATH so the matching kubectl wins over the system one."""
        return self.kubectl.parent


def binaries() -> Binaries:
    """Where the binaries are (built or not)."""
    k8s, etcd_set = kubernetes(), etcd()
    return Binaries(
        etcd=etcd_set.path("etcd"),
        kube_apiserver=k8s.path("kube-apiserver"),
        kube_controller_manager=k8s.path("kube-controller-manager"),
        kube_scheduler=k8s.path("kube-scheduler"),
        kubectl=k8s.path("kubectl"),
    )


@dataclass(frozen=True)
class NodeBinaries:
    """Paths of the programs every local node runs."""

    kubelet: Path
    kube_proxy: Path


def node_binaries() -> NodeBinaries:
    """Where the node binaries are (built or not)."""
    node = kubernetes_node()
    return NodeBinaries(kubelet=node.path("kubelet"), kube_proxy=node.path("kube-proxy"))


def ensure_node_binaries_built(echo: Echo = print) -> NodeBinaries:
    """Build kubelet and kube-proxy when missing or stale (the control plane's too)."""
    _ensure_sets((etcd(), kubernetes(), kubernetes_node()), echo)
    return node_binaries()


def ensure_built(echo: Echo = print) -> Binaries:
    """Build every missing or stale binary set, reuse the rest; return the paths."""
    _ensure_sets((etcd(), kubernetes()), echo)
    return binaries()


def _ensure_sets(sets: tuple[BinarySet, ...], echo: Echo) -> None:
    go = shutil.which("go")
    go_version = _go_version(go) if go else None
    stale = [binary_set for binary_set in sets if not binary_set.is_cached(go_version)]
    if not stale:
        echo(f"control-plane binaries: cached ({', '.join(str(s.bin_dir) for s in sets)})")
        return
    if go is None or go_version is None:
        missing = ", ".join(binary for s in stale for binary in s.binaries)
        raise MissingDependency(f"Go is needed to build {missing}: {GO_INSTALL_HINT}")
    if _go_release(go_version) < _MIN_GO:
        raise MissingDependency(f"{go_version} is too old: {GO_INSTALL_HINT}")
    # Two callers (bootstrap and a test session) may race; the second waits, then reuses.
    with _build_lock(echo):
        for binary_set in sets:
            if not binary_set.is_cached(go_version):
                _build_set(go, go_version, binary_set, echo)


@contextlib.contextmanager
def _build_lock(echo: Echo) -> Iterator[None]:
    with open(cache_dir("bin") / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo("control-plane binaries: another build is running, waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build_set(go: str, go_version: str, binary_set: BinarySet, echo: Echo) -> None:
    binary_set.bin_dir.mkdir(parents=True, exist_ok=True)
    # Remove the stamp first: an interrupted build must never look complete.
    (binary_set.bin_dir / ".stamp").unlink(missing_ok=True)
    started = time.monotonic()
    for binary, package in binary_set.commands:
        _build_one(go, binary_set, binary, package, echo)
    binary_set.write_stamp(go_version)
    echo(
        f"built {binary_set.name} {binary_set.version} in {time.monotonic() - started:.0f}s "
        f"-> {binary_set.bin_dir}"
    )


def _build_one(go: str, binary_set: BinarySet, binary: str, package: str, echo: Echo) -> None:
    """One `go build` per binary, so progress can name it; the Go cache shares the work."""
    target = binary_set.path(binary)
    partial = target.with_name(f".{binary}.partial")
    # No -trimpath: it changes every compile cache key, and the bootstrap warms the cache
    # with a plain build.
    argv = [go, "build", "-ldflags", binary_set.ldflags(), "-o", str(partial), package]
    env = {**os.environ, "CGO_ENABLED": "0"}
    echo(f"building {binary} {binary_set.version} (go build {package})")
    started = time.monotonic()
    output = _run_with_heartbeat(argv, env, binary_set.module_dir, binary, started, echo)
    if output.returncode != 0:
        partial.unlink(missing_ok=True)
        raise _build_error(binary, binary_set, output.stdout)
    partial.replace(target)  # atomic: a reader sees the old binary or the whole new one
    echo(f"built {binary} in {time.monotonic() - started:.0f}s")


def _run_with_heartbeat(
    argv: list[str], env: dict[str, str], cwd: Path, binary: str, started: float, echo: Echo
) -> subprocess.CompletedProcess[str]:
    """Run a long build, saying every so often that it is still going (a cold build is minutes)."""
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        while True:
            try:
                stdout, _ = proc.communicate(timeout=_HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                echo(f"  still building {binary} ({time.monotonic() - started:.0f}s)")
    return subprocess.CompletedProcess(argv, proc.returncode, stdout or "")


def _build_error(binary: str, binary_set: BinarySet, output: str) -> KovirtError:
    tail = "\n".join(output.strip().splitlines()[-25:])
    if any(marker in output for marker in _NETWORK_ERRORS):
        proxy = os.environ.get("GOPROXY") or "https://proxy.golang.org (default)"
        return KovirtError(
            f"building {binary} needs Go modules that are not in the module cache, and the Go "
            f"module proxy ({proxy}) could not be reached. Check the network or set GOPROXY "
            f"to a reachable proxy, then re-run `kovirt controlplane build`.\n{tail}",
            reason="ModuleProxyUnreachable",
        )
    return KovirtError(
        f"`go build` of {binary} failed in {binary_set.module_dir}:\n{tail}", reason="BuildFailed"
    )


def _go_release(go_version: str) -> tuple[int, int]:
    """(1, 26) from "go version go1.26.8 linux/amd64"; (0, 0) when unreadable."""
    match = re.search(r"\bgo(\d+)\.(\d+)", go_version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _go_version(go: str) -> str | None:
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()
