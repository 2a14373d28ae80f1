"""DiskImage: a golden RBD image, imported once and cloned copy-on-write into VM disks."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kovirt.api.v1alpha1.common import (
    DNS_NAME_PATTERN,
    ApiModel,
    CustomResource,
    ResourceStatus,
    age_column,
)

SHA256_PATTERN = r"^[a-f0-9]{64}$"


class HttpSource(ApiModel):
    url: str = Field(
        pattern=r"^https?://.+",
        max_length=2048,
        description="http(s) URL of a raw disk image.",
    )
    sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="Expected sha256 of the downloaded bytes (64 lowercase hex digits).",
    )


class ImageSource(ApiModel):
    http: HttpSource = Field(description="Stream the image from a URL.")


class DiskImageSpec(ApiModel):
    storage_domain: str = Field(
        pattern=DNS_NAME_PATTERN,
        max_length=253,
        description="The data or iso StorageDomain that holds the image. Immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "storageDomain is immutable"}
            ]
        },
    )
    source: ImageSource = Field(
        description="Where the bytes come from. Immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "source is immutable; create a new DiskImage instead",
                }
            ]
        },
    )


class DiskImageStatus(ResourceStatus):
    phase: Literal["Pending", "Importing", "Ready", "Failed"] | None = Field(
        default=None, description="Pending, Importing, Ready or Failed."
    )
    pool: str | None = Field(default=None, description="Pool holding the image.")
    image: str | None = Field(default=None, description="RBD image name.")
    snapshot: str | None = Field(
        default=None, description="Protected snapshot VM disks are cloned from."
    )
    size_bytes: int | None = Field(default=None, description="Image size in bytes.")
    imported_bytes: int | None = Field(default=None, description="Bytes imported so far.")
    progress: str | None = Field(default=None, description="Import progress, e.g. 42%.")
    sha256: str | None = Field(default=None, description="sha256 of the imported bytes.")
    checksum_verified: bool | None = Field(
        default=None, description="True when the sha256 matched spec.source.http.sha256."
    )


class DiskImage(CustomResource):
    """A golden image in a storage domain; VM disks are O(1) copy-on-write clones of it."""

    plural: ClassVar[str] = "diskimages"
    short_names: ClassVar[tuple[str, ...]] = ("kdi",)
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Domain", "type": "string", "jsonPath": ".spec.storageDomain"},
        {"name": "Size", "type": "integer", "jsonPath": ".status.sizeBytes"},
        {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
        {"name": "Verified", "type": "boolean", "jsonPath": ".status.checksumVerified"},
        {"name": "URL", "type": "string", "jsonPath": ".spec.source.http.url", "priority": 1},
        age_column(),
    )

    kind: Literal["DiskImage"] = "DiskImage"
    spec: DiskImageSpec
    status: DiskImageStatus = Field(default_factory=DiskImageStatus)
