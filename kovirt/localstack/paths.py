"""Where the local stack keeps its state, logs and cached binaries.

Everything lives under two folders so `down` can find and undo all of it:
- state: ``$KOVIRT_STATE_DIR`` or ``$XDG_STATE_HOME/kovirt`` (default ``~/.local/state/kovirt``),
  one sub-folder per component (``controlplane/``, ``ceph/``, ``libvirt/``, ...), each with
  its data, ``logs/`` and ``pids/``;
- cache: ``$KOVIRT_CACHE_DIR`` or ``$XDG_CACHE_HOME/kovirt`` (default ``~/.cache/kovirt``),
  for things that are expensive to make and never change for the same inputs
  (Go-built binaries per version, test-guest images).
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir(component: str | None = None) -> Path:
    base = os.environ.get("KOVIRT_STATE_DIR")
    if base:
        root = Path(base)
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        root = Path(xdg) / "kovirt"
    path = root / component if component else root
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(component: str | None = None) -> Path:
    base = os.environ.get("KOVIRT_CACHE_DIR")
    if base:
        root = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(xdg) / "kovirt"
    path = root / component if component else root
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """The source checkout (for hack/ Go modules, crds/ and examples/)."""
    return Path(__file__).resolve().parents[2]
