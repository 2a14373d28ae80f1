"""The `kovirt` command: help for everyone, clear messages (never tracebacks) on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def kovirt(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kovirt.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_help_lists_the_subcommands() -> None:
    result = kovirt("--help")
    assert result.returncode == 0
    for sub in ("crds", "controlplane", "ceph"):
        assert sub in result.stdout


def test_crds_check_passes_on_the_committed_tree() -> None:
    result = kovirt("crds", "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-command",), "No such command"),
        (("crds", "--bogus"), "No such option"),
        (("crds", "--out", "pyproject.toml"), "is not a folder"),
        (("crds", "--check", "--out", "examples"), "out of date"),
    ],
)
def test_bad_input_gives_a_message_and_non_zero_exit(args: tuple[str, ...], message: str) -> None:
    result = kovirt(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
