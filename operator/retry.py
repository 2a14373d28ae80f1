"""How long a handler waits before it tries again: short at first, then backing off.

Most retries wait for another object to get ready (a domain's pool, an image's import), which
usually takes seconds: a fixed 10-20 s delay made a fresh install wait up to that long per
dependency in a chain. Doubling from one second reaches the same cap after a few tries, so
persistent failures cost no more API calls than before.
"""

from __future__ import annotations


def backoff(retry: int, cap: float, first: float = 1.0) -> float:
    """Seconds before attempt `retry + 1` (kopf counts `retry` from 0)."""
    return min(cap, first * 2 ** max(0, retry))
