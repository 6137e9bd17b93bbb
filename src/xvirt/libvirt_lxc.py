"""libvirt-python's ``libvirt_lxc`` module over xvirt: every function exists and raises NO_SUPPORT (Xen has no LXC driver).

``import xvirt.libvirt_lxc as libvirt_lxc``; the runner and the shim directory make an unmodified
``import libvirt_lxc`` give this module (see docs/libvirt-compat.md). Names and constants come from
the generated table in ``xvirt._libvirt_api``.
"""

from __future__ import annotations

from ._libvirt_api import LXC_CONSTANTS, LXC_FUNCTIONS
from ._libvirt_surface import unsupported_function

globals().update(LXC_CONSTANTS)
globals().update({name: unsupported_function(name, c_function, __name__)
                  for name, c_function in LXC_FUNCTIONS.items()})

__all__ = [*LXC_FUNCTIONS, *LXC_CONSTANTS]
