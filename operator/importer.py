"""Stream an image from an http(s) URL in bounded chunks (no whole-file buffering)."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from kovirt.errors import KovirtError

CHUNK_BYTES = 4 * 1024**2
TIMEOUT_S = 30


class DownloadFailed(KovirtError):
    """The source could not be read; `transient` says whether retrying may help."""

    reason = "DownloadFailed"

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class Download:
    size_bytes: int | None  # from Content-Length, when the server sends it
    chunks: Iterator[bytes]


@contextlib.contextmanager
def open_url(url: str) -> Iterator[Download]:
    """Open the URL; yields its size (if known) and an iterator of chunks."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        transient = error.code >= 500 or error.code in (408, 429)
        raise DownloadFailed(
            f"GET {url}: HTTP {error.code} {error.reason}", transient=transient
        ) from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadFailed(f"GET {url}: {reason}", transient=True) from error
    with response:
        length = response.headers.get("Content-Length")
        yield Download(int(length) if length and length.isdigit() else None, _read(response, url))


def _read(response, url: str) -> Iterator[bytes]:
    received = 0
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, TimeoutError) as error:
            raise DownloadFailed(
                f"GET {url}: connection lost after {received} bytes: {error}", transient=True
            ) from error
        if not chunk:
            return
        received += len(chunk)
        yield chunk
