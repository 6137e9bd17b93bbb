"""libvirt-python's ``libvirt_qemu`` module over xvirt: every function exists and raises NO_SUPPORT (Xen has no QEMU driver).

``import xvirt.libvirt_qemu as libvirt_qemu``; the runner and the shim directory make an unmodified
``import libvirt_qemu`` give this module (see docs/libvirt-compat.md). Names and constants come from
the generated table in ``xvirt._libvirt_api``.
"""

from __future__ import annotations

from ._libvirt_api import QEMU_CONSTANTS, QEMU_FUNCTIONS
from ._libvirt_surface import unsupported_function

globals().update(QEMU_CONSTANTS)
globals().update({name: unsupported_function(name, c_function, __name__)
                  for name, c_function in QEMU_FUNCTIONS.items()})

__all__ = [*QEMU_FUNCTIONS, *QEMU_CONSTANTS]
