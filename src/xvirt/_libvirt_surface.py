"""The rest of libvirt-python's surface: every class, function and method exists; unsupported ones raise NO_SUPPORT.

The names come from the generated table ``_libvirt_api`` (libvirt-python 9.0, see
scripts/gen_libvirt_api.py). A method or function xvirt does not implement raises
``libvirtError`` with ``VIR_ERR_NO_SUPPORT`` (3) and the message libvirt's drivers give,
"this function is not supported by the connection driver: virConnectListNetworks", reported
through the facade's error machinery (last error, error handler) like any other failure. So a
program's ``except libvirt.libvirtError`` handler degrades gracefully where it would otherwise
crash on an ``AttributeError``, and an annotation such as ``libvirt.virStream`` resolves.

Objects of the classes xvirt has no driver for (networks, storage, secrets, node devices,
snapshots, streams, ...) are never handed out: every call that would create one raises
NO_SUPPORT first.
"""

from __future__ import annotations

from ._libvirt_api import FUNCTIONS, METHODS
from . import _libvirt_domctl, _libvirt_domstats  # noqa: F401 - virDomain's methods, before the stand-ins
from ._libvirt_objects import _api, virConnect, virDomain
from .errors import NoSupportError

__all__ = ["no_support", "unsupported_function", "is_unsupported", "complete", "module_stubs", "UNSUPPORTED_CLASSES",
           "virNetwork", "virNetworkPort", "virInterface", "virStoragePool", "virStorageVol", "virNodeDevice",
           "virSecret", "virNWFilter", "virNWFilterBinding", "virStream", "virDomainCheckpoint",
           "virDomainSnapshot"]

_MARK = "_xvirt_no_support"


def no_support(c_function: str) -> NoSupportError:
    """libvirt's virReportUnsupportedError for ``c_function``."""
    return NoSupportError(f"this function is not supported by the connection driver: {c_function}")


def _stub(name: str, c_function: str, qualname: str):
    def unsupported(*args, **kwargs):
        raise no_support(c_function)
    unsupported.__name__ = name
    unsupported.__qualname__ = qualname
    unsupported.__doc__ = (f"libvirt's {c_function}: not supported by xvirt's Xen driver "
                           "(raises libvirtError VIR_ERR_NO_SUPPORT).")
    wrapped = _api(unsupported)
    setattr(wrapped, _MARK, c_function)
    return wrapped


def unsupported_function(name: str, c_function: str, module: str = "libvirt"):
    """A module-level function of libvirt that raises NO_SUPPORT when called."""
    fn = _stub(name, c_function, name)
    fn.__module__ = module
    return fn


def is_unsupported(obj) -> bool:
    """True for the NO_SUPPORT stand-ins made here (what ``xvirt.libvirt`` does not implement)."""
    return hasattr(obj, _MARK)


def complete(cls: type, methods: dict[str, str]) -> type:
    """Give ``cls`` a NO_SUPPORT method for each libvirt method it does not implement."""
    for name, c_function in methods.items():
        if not callable(getattr(cls, name, None)):
            setattr(cls, name, _stub(name, c_function, f"{cls.__name__}.{name}"))  # ignores self
    return cls


class _NoDriver:
    """Base of libvirt's object classes that xvirt has no driver for: instances are never handed out."""

    def __init__(self, *args, **kwargs) -> None:
        raise no_support(f"{type(self).__name__}New")

    def __repr__(self) -> str:
        return f"<libvirt.{type(self).__name__} (unsupported)>"


class virNetwork(_NoDriver):
    """A virtual network (libvirt's network driver): not provided on Xen by xvirt."""


class virNetworkPort(_NoDriver):
    """A port of a virtual network: not provided."""


class virInterface(_NoDriver):
    """A host network interface (libvirt's netcf driver): not provided."""


class virStoragePool(_NoDriver):
    """A storage pool: not provided."""


class virStorageVol(_NoDriver):
    """A storage volume: not provided."""


class virNodeDevice(_NoDriver):
    """A host device (libvirt's node device driver): not provided."""


class virSecret(_NoDriver):
    """A secret: not provided."""


class virNWFilter(_NoDriver):
    """A network filter: not provided."""


class virNWFilterBinding(_NoDriver):
    """A network filter binding: not provided."""


class virStream(_NoDriver):
    """A data stream (screenshots, console, volume upload): not provided."""


class virDomainCheckpoint(_NoDriver):
    """A domain checkpoint: not provided."""


class virDomainSnapshot(_NoDriver):
    """A domain snapshot: Xen's toolstack of this era has none, so none are provided."""


UNSUPPORTED_CLASSES = (virNetwork, virNetworkPort, virInterface, virStoragePool, virStorageVol, virNodeDevice,
                       virSecret, virNWFilter, virNWFilterBinding, virStream, virDomainCheckpoint,
                       virDomainSnapshot)

for _cls in (virConnect, virDomain, *UNSUPPORTED_CLASSES):
    complete(_cls, METHODS[_cls.__name__])
del _cls


def module_stubs(implemented) -> dict:
    """NO_SUPPORT stand-ins for libvirt's module functions not in ``implemented`` (the event loop)."""
    return {name: unsupported_function(name, c_function) for name, c_function in FUNCTIONS.items()
            if name not in implemented}
