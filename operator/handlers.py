"""Imports every handler module so kopf registers them, and the operator-wide settings."""

from __future__ import annotations

import logging
import threading
from typing import Any

import kopf

from kovirt.operator import (
    ceph_access,
    datacenter,
    diskimage,
    host,
    observer,
    storagedomain,
    virtualmachine,
)

HANDLER_MODULES = (datacenter, storagedomain, diskimage, virtualmachine, host)
_stop_observer = threading.Event()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
    # Keep kopf's bookkeeping in annotations under our own prefix, and our own finalizer
    # name: status stays exactly what the CRD schema describes.
    settings.persistence.finalizer = "kovirt.io/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kovirt.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kovirt.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    observer.start(_stop_observer)
    logger.info("kovirt operator configured")


@kopf.on.cleanup()
def close_connections(**_: Any) -> None:
    _stop_observer.set()
    ceph_access.close_all()
