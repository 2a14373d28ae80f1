"""Host state a local node makes outside its network namespace: cgroups and mounts.

Each node's kubelet runs under a cgroup root of its own (``/kovirt-<id>-<node>``) in every
cgroup v1 hierarchy, so its pods never mix with another node's; `down` kills what is left
in that tree and removes it. Kubelet (tmpfs volumes) and containerd (shm, overlay rootfs,
pod network namespaces) mount under the node's folder; `down` unmounts them there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup")


def v1_hierarchies() -> list[Path]:
    """The mounted cgroup v1 hierarchies (cpu, memory, ..., name=systemd), not cgroup2."""
    return _hierarchies(("cgroup",))


def all_hierarchies() -> list[Path]:
    """v1 and the hybrid layout's cgroup2 (`unified`), where the kubelet mirrors its
    tree too: `down` must clean both."""
    return _hierarchies(("cgroup", "cgroup2"))


def _hierarchies(types: tuple[str, ...]) -> list[Path]:
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mountpoint, fstype, *_ = line.split()
        if fstype in types and mountpoint.startswith(str(CGROUP_V1)):
            found.append(Path(mountpoint))
    return sorted(set(found))


def create_cgroup(name: str) -> None:
    for hierarchy in v1_hierarchies():
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        # A new cpuset cgroup starts with no CPUs and no memory nodes: copy the parent's,
        # or nothing can ever join it.
        for knob in ("cpuset.cpus", "cpuset.mems"):
            parent = hierarchy / knob
            if parent.exists() and not (path / knob).read_text().strip():
                (path / knob).write_text(parent.read_text())


def cgroup_pids(name: str) -> set[int]:
    pids: set[int] = set()
    for hierarchy in all_hierarchies():
        root = hierarchy / name
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    pids |= {int(pid) for pid in procs.read_text().split()}
    return pids


def kill_cgroup(name: str, timeout_s: float = 10.0) -> None:
    """SIGKILL every process in the node's cgroup tree (all of them its pods' processes
    or the node's own daemons), until none is left."""
    deadline = time.monotonic() + timeout_s
    while pids := cgroup_pids(name):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)


def remove_cgroup(name: str, timeout_s: float = 10.0) -> list[Path]:
    """rmdir the tree depth-first in every hierarchy; return what could not be removed."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = []
        for hierarchy in all_hierarchies():
            root = hierarchy / name
            if not root.is_dir():
                continue
            folders = sorted((p for p in root.rglob("*") if p.is_dir()), key=_depth, reverse=True)
            for folder in [*folders, root]:
                with contextlib.suppress(FileNotFoundError):
                    try:
                        folder.rmdir()
                    except OSError:
                        left.append(folder)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def cgroup_exists(name: str) -> bool:
    return any((hierarchy / name).exists() for hierarchy in all_hierarchies())


def _depth(path: Path) -> int:
    return len(path.parts)


def mounts_under(folder: Path) -> list[Path]:
    """Mount points at or below folder, deepest first (the order to unmount them in)."""
    prefix = str(folder.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mountpoint = _unescape(line.split()[4])
        if mountpoint == prefix or mountpoint.startswith(prefix + "/"):
            found.append(Path(mountpoint))
    return sorted(set(found), key=_depth, reverse=True)


def unmount_all_under(folder: Path) -> list[Path]:
    """Unmount (lazily, so a busy one still goes) everything below folder; return what is
    still mounted afterwards."""
    for _ in range(5):
        mounts = mounts_under(folder)
        if not mounts:
            return []
        for mountpoint in mounts:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
    return mounts_under(folder)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


# Paths the kubelet, containerd and libcni use whatever they are told (hard-coded in them).
# `down` removes only entries that point into the stack's folder or name its networks, then
# the folders if that left them empty: never anything of someone else.
HOST_LOG_LINKS = Path("/var/log/containers")
CNI_CACHE = Path("/var/lib/cni/results")
KUBELET_DEVICE_SOCKET = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
EMPTY_FOLDERS = (
    Path("/var/log/containers"),
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
    Path("/var/lib/kubelet/device-plugins"),
    Path("/var/lib/kubelet"),
    Path("/run/containerd/s"),
    Path("/run/containerd"),
)


def host_traces(state_root: Path, network_prefix: str) -> list[Path]:
    """Files outside the state folder that the stack's nodes left: container log links
    into it and libcni's cached results for its networks."""
    found = []
    if HOST_LOG_LINKS.is_dir():
        for link in HOST_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(str(state_root) + "/"):
                    found.append(link)
    if CNI_CACHE.is_dir():
        found += [entry for entry in CNI_CACHE.iterdir() if entry.name.startswith(network_prefix)]
    if KUBELET_DEVICE_SOCKET.exists() and not _any_process_named("kubelet"):
        found.append(KUBELET_DEVICE_SOCKET)
    return found


def remove_host_traces(state_root: Path, network_prefix: str) -> None:
    for path in host_traces(state_root, network_prefix):
        path.unlink(missing_ok=True)
    # Every kubelet serves device plugins at this one fixed path and leaves it on exit;
    # it is ours to remove once no kubelet at all runs on the machine.
    if not _any_process_named("kubelet"):
        KUBELET_DEVICE_SOCKET.unlink(missing_ok=True)
    for folder in EMPTY_FOLDERS:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def _any_process_named(name: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            program = cmdline.read_bytes().split(b"\0", 1)[0]
            if os.path.basename(program.decode(errors="replace")) == name:
                return True
    return False
