"""Connection URIs: parse them into the channels a connection should open, and pick the default.

Grammar as libvirt's (``driver[+transport]://[host][:port]/[path][?params]``):

* ``xen+sim:///NAME[?dir=STATE_DIR&autostart=0]`` the simulated host (started on demand);
* ``xen:///`` / ``xen:///system`` a real Xen host at the standard paths (XenD unix socket,
  xenstored socket; ``xen://localhost:8000/``-style TCP when a host is given); its toolstack
  (XenD, or libxl through ``xl``) is found at connect time (``driver.xen.detect_toolstack``);
* ``xen+unix:///path/to/xend-socket`` and ``xen+http://host:port/`` XenD only.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import InvalidArgError, NoConnectError

__all__ = ["Target", "parse_uri", "default_uri", "XEND_SOCKET", "XENSTORED_SOCKET"]

XEND_SOCKET = "/var/lib/xend/xend-socket"
XENSTORED_SOCKET = "/var/run/xenstored/socket"


@dataclass(frozen=True)
class Target:
    """Where each channel of a connection lives; None means the channel is not used."""

    uri: str
    xend: str | tuple[str, int]
    xenstore: str | None = None
    domtable: str | None = None
    sim_name: str | None = None
    sim_root: str | None = None
    autostart: bool = False
    # the toolstack: "xend", "libxl" (through the ``xl`` command) or "none"; None = find out
    # at connect time (``driver.detect``). ``xl_command`` is the argv prefix that runs ``xl``;
    # ``config_dir`` keeps the libxl toolstack's defined domains.
    toolstack: str | None = "xend"
    xl_command: tuple[str, ...] | None = None
    config_dir: str | None = None

    @property
    def xend_only(self) -> bool:
        return self.xenstore is None and self.domtable is None


def default_uri() -> str:
    env = os.environ.get("XVIRT_DEFAULT_URI")
    if env:
        return env
    if os.path.exists(XEND_SOCKET):
        return "xen:///"
    return "xen+sim:///default"


def parse_uri(uri: str | None) -> Target:
    if uri is None:
        uri = default_uri()
    if not isinstance(uri, str) or len(uri) > 4096:
        raise InvalidArgError("connection URI must be a string of at most 4096 characters")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as e:
        raise InvalidArgError(f"invalid connection URI {uri!r}: {e}") from None
    scheme = parts.scheme.lower()
    params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    path = unquote(parts.path)
    if scheme == "xen+sim":
        from .sim.daemon import SimPaths, state_dir
        if parts.netloc:
            raise InvalidArgError(f"invalid connection URI {uri!r}: the simulated host is local (xen+sim:///NAME)")
        name = path.strip("/") or "default"
        root = params.get("dir") or state_dir(name)
        p = SimPaths(root)
        # the host's toolstack is found at connect time (XenD socket present, else its ``xl``)
        return Target(uri, p.xend, p.xenstored, p.domtable, sim_name=name,
                      sim_root=params.get("dir"), autostart=params.get("autostart", "1") != "0",
                      toolstack=None, xl_command=(sys.executable, "-m", "xvirt.sim.xl", "--root", root),
                      config_dir=os.path.join(root, "libxl"))
    if scheme == "xen":
        if parts.hostname and parts.hostname not in ("localhost",):
            raise NoConnectError(f"remote Xen hosts need xen+http://host:port/ (XenD only): {uri}")
        if parts.hostname:
            return Target(uri, (parts.hostname, port or 8000))
        if path not in ("", "/", "/system"):
            raise InvalidArgError(f"invalid connection URI {uri!r}: unexpected path {path!r}")
        return Target(uri, params.get("socket", XEND_SOCKET), XENSTORED_SOCKET, None, toolstack=None)
    if scheme == "xen+unix":
        if not path or path == "/":
            raise InvalidArgError(f"invalid connection URI {uri!r}: xen+unix:///path/to/xend-socket")
        return Target(uri, params.get("socket", path))
    if scheme in ("xen+http", "http"):
        if not parts.hostname:
            raise InvalidArgError(f"invalid connection URI {uri!r}: a host is required")
        return Target(uri, (parts.hostname, port or 8000))
    raise NoConnectError(f"no connection driver available for {uri}")
