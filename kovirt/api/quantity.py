"""Kubernetes resource quantities ("512Mi", "10Gi", "1.5G", "100") as strings, and their value.

The same regular expression is the CRD's `pattern`, so the API server and pydantic agree on
what is a valid quantity.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import Field

QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"

_SUFFIX_FACTOR: dict[str, int] = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}

Quantity = Annotated[
    str,
    Field(
        pattern=QUANTITY_PATTERN,
        json_schema_extra={"x-kovirt-quantity": True},
        examples=["512Mi", "10Gi"],
    ),
]


def quantity_to_int(quantity: str | int) -> int:
    """The whole number a quantity stands for ("1Gi" -> 1073741824); rounds up fractions."""
    if isinstance(quantity, int):
        return quantity
    match = re.fullmatch(QUANTITY_PATTERN, quantity.strip())
    if match is None:
        raise ValueError(f"{quantity!r} is not a quantity such as 512Mi or 10Gi")
    number, _, suffix = match.groups()
    value = Decimal(number) * _SUFFIX_FACTOR[suffix or ""]
    return int(value.to_integral_value(rounding="ROUND_CEILING"))


def bytes_to_quantity(size_bytes: int) -> str:
    """The shortest exact binary quantity for a byte count (1073741824 -> "1Gi")."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = _SUFFIX_FACTOR[suffix]
        if size_bytes and size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)
