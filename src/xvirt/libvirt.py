"""A libvirt-python compatible module over xvirt: ``import xvirt.libvirt as libvirt``.

It has every name of libvirt-python 9.0 (module functions, classes, methods, ``VIR_*`` constants
with libvirt's numbers): what Xen monitoring and management programs use is implemented with
libvirt-python's return shapes (``open``/``openReadOnly``/``openAuth``, ``virConnect``,
``virDomain``, ``libvirtError``); everything else raises ``libvirtError`` with
``VIR_ERR_NO_SUPPORT``, as a libvirt driver without that feature does. ``libvirtError`` *is*
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
                               registerErrorHandler, virConnect, virDomain,
                               virGetLastError, virGetLastErrorCode, virGetLastErrorDomain,
                               virGetLastErrorMessage, virInitialize, virResetLastError)
from ._libvirt_surface import (module_stubs, virDomainCheckpoint, virDomainSnapshot, virInterface,
                               virNetwork, virNetworkPort, virNodeDevice, virNWFilter, virNWFilterBinding,
                               virSecret, virStoragePool, virStorageVol, virStream)
from .errors import LibvirtError as libvirtError
from . import _libvirt_events as _events
from ._libvirt_events import *  # noqa: F401,F403 - the event loop API (issue 14)

_events.install(virConnect)

_implemented = ["open", "openReadOnly", "openAuth", "getVersion", "registerErrorHandler", "virGetLastError",
                "virGetLastErrorCode", "virGetLastErrorDomain", "virGetLastErrorMessage", "virResetLastError",
                "virInitialize", *[n for n in _events.__all__ if n != "install"]]
# the rest of libvirt's module functions: NO_SUPPORT stand-ins for whatever is not defined above
_stubs = module_stubs(set(_implemented) | set(globals()))
globals().update(_stubs)

__all__ = [*_implemented, *sorted(_stubs), "virConnect", "virDomain", "virNetwork", "virNetworkPort",
           "virInterface", "virStoragePool", "virStorageVol", "virNodeDevice", "virSecret", "virNWFilter",
           "virNWFilterBinding", "virStream", "virDomainCheckpoint", "virDomainSnapshot", "libvirtError",
           "LIBVIRT_API_VERSION", *_constant_names]

if __name__ == "__main__":
    import sys

    from ._libvirt_run import main
    sys.exit(main())
