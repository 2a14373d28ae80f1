"""The test guest: a tiny Linux from Debian packages that prints, writes a marker, ends.

Built without network or root: Debian's cloud kernel, a busybox-static initramfs whose
/init follows `kovirt.*` arguments, and a BIOS-bootable raw disk image holding both.
"""

from kovirt.guest.build import GuestArtifacts, build_test_guest
from kovirt.guest.init import FW_CFG_NAME, GuestArgs, marker_line, read_marker

__all__ = [
    "FW_CFG_NAME",
    "GuestArgs",
    "GuestArtifacts",
    "build_test_guest",
    "marker_line",
    "read_marker",
]
