"""xvirt: Xen virtualization management with libvirt's API shape and a simulated Xen host."""

__version__ = "0.1.0"

from .connection import Connection, DomainStats, NodeInfo, open  # noqa: E402
from .domain import Domain, DomainInfo  # noqa: E402
from . import errors  # noqa: E402
from .errors import *  # noqa: E402,F401,F403

__all__ = ["open", "Connection", "Domain", "DomainInfo", "DomainStats", "NodeInfo", "errors",
           *errors.__all__]
