"""A libvirt-python compatible module over xvirt: ``import xvirt.libvirt as libvirt``.

It offers the part of libvirt-python's API that Xen monitoring and management programs use
(``open``/``openReadOnly``/``openAuth``, ``virConnect``, ``virDomain``, ``libvirtError`` and the
``VIR_*`` constants), with libvirt-python's return shapes. ``libvirtError`` *is*
``xvirt.errors.LibvirtError``, so ``except libvirt.libvirtError`` catches every xvirt error and
``e.get_error_code()`` gives libvirt's numbers. See docs/libvirt-compat.md.

To run an unmodified program that does ``import libvirt`` against xvirt::

    python -m xvirt.libvirt PROGRAM.py [ARGS...]      # or: python -m xvirt.libvirt -m MODULE [ARGS...]
    PYTHONPATH=$(python -m xvirt.libvirt --shim-path) python PROGRAM.py [ARGS...]
"""

from __future__ import annotations

from ._libvirt_constants import *  # noqa: F401,F403 - the VIR_* constants are this module's API
from ._libvirt_constants import __all__ as _constant_names
from ._libvirt_objects import (LIBVIRT_API_VERSION, getVersion, open, openAuth, openReadOnly,  # noqa: A004
                               registerErrorHandler, virConnect, virDomain, virEventRegisterDefaultImpl,
                               virGetLastError, virResetLastError)
from .errors import LibvirtError as libvirtError
from . import _libvirt_events as _events
from ._libvirt_events import *  # noqa: F401,F403 - the event loop API (issue 14)
from ._libvirt_events import virEventRegisterDefaultImpl  # noqa: F811 - replaces the no-op

_events.install(virConnect)

__all__ = ["open", "openReadOnly", "openAuth", "getVersion", "registerErrorHandler", "virGetLastError",
           "virResetLastError", "virEventRegisterDefaultImpl", "virConnect", "virDomain", "libvirtError",
           "LIBVIRT_API_VERSION", *_constant_names,
           *[n for n in _events.__all__ if n != "install"]]

if __name__ == "__main__":
    import sys

    from ._libvirt_run import main
    sys.exit(main())
