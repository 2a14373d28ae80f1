"""Start and stop the local stack's daemons as plain processes, tracked by pid files.

Only processes this module started (their pid is in our pid folder and their command line
still matches) are ever signalled, so a stop never touches someone else's process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Exit:
    """How a stopped daemon went: on its own after SIGTERM, or SIGKILLed after the timeout."""

    killed: bool
    seconds: float  # from SIGTERM until the process was gone


@dataclass(frozen=True)
class Daemon:
    """One long-running process of the local stack: its name, pid file and log file."""

    name: str
    pid_dir: Path
    log_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.pid_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid if the process we started is still alive, else None."""
        try:
            recorded = self.pid_file.read_text().split()
            pid, exe = int(recorded[0]), recorded[1] if len(recorded) > 1 else ""
        except (FileNotFoundError, ValueError, IndexError):
            return None
        if not _alive(pid):
            return None
        # Guard against pid reuse: the process must still run the program we started.
        # An empty cmdline is transient (seen right after a daemon starts), not another program.
        program = _cmdline_program(pid)
        if exe and program and program not in (exe, os.path.basename(exe)):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        program: str | None = None,
    ) -> int:
        """Start argv detached (own session), output appended to the log; return its pid.

        `program`: what the process runs once started, when argv[0] is a launcher that
        execs it (e.g. `nsenter ... -- libvirtd`); the pid-reuse guard checks that name.
        """
        existing = self.pid()
        if existing is not None:
            return existing
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid} {program or argv[0]}\n")
        return proc.pid

    def stop(self, timeout_s: float = 10.0) -> bool:
        """SIGTERM, wait up to timeout_s, then SIGKILL. True if something was stopped."""
        return self.terminate(timeout_s) is not None

    def terminate(self, timeout_s: float = 10.0) -> Exit | None:
        """stop() that says how the process went; None if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        started = time.monotonic()
        _signal(pid, signal.SIGTERM)
        killed = not _wait_gone(pid, timeout_s)
        if killed:
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)
        return Exit(killed=killed, seconds=time.monotonic() - started)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) counts as gone.
    with contextlib.suppress(FileNotFoundError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _cmdline_program(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return ""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1, what: str = "condition"):
    """Poll predicate until it returns a truthy value; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)
