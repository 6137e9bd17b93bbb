"""Connection URIs: parse them into the channels a connection should open, and pick the default.

Grammar as libvirt's (``driver[+transport]://[host][:port]/[path][?params]``):

* ``xen+sim:///NAME[?dir=STATE_DIR&autostart=0]`` a simulated host (only ``default`` at its
  default place starts on demand);
* ``xen:///`` / ``xen:///system`` a real Xen host: the hypervisor through libxenctrl, xenstore at
  the first of ``$XENSTORED_PATH``, ``/run/xenstored/socket``, ``/var/run/xenstored/socket``,
  ``/dev/xen/xenbus`` that exists (probed when the URI is parsed), the XenD unix socket
  (``xen://localhost:8000/``-style TCP, XenD only, when a host is given); its toolstack
  (XenD, or libxl through ``xl``) is found at connect time (``driver.xen.detect_toolstack``);
* ``xen+unix:///path/to/xend-socket`` and ``xen+http://host:port/`` XenD only.

Every scheme takes ``max_staleness=S``. A parameter a scheme does not know, one given twice, or a
malformed value is refused with VIR_ERR_INVALID_ARG naming it, as libvirt's remote driver does
for a value it cannot parse ("Failed to parse value of URI component ...", remote_driver.c).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import InvalidArgError, NoConnectError
from .sim.paths import DEFAULT_NAME, SimPaths, check_name, state_dir

__all__ = ["Target", "parse_uri", "default_uri", "probe_xenstore", "XEND_SOCKET", "XENSTORED_SOCKET",
           "XENSTORE_PATHS", "PRIVCMD"]

XEND_SOCKET = "/var/lib/xend/xend-socket"
XENSTORED_SOCKET = "/var/run/xenstored/socket"
# where xenstore is reached on a dom0, in the order libxenstore tries them (tools/libs/store/xs.c:
# $XENSTORED_PATH, the daemon's socket under /run (older hosts: /var/run), else the kernel's
# xenbus device, which speaks the same wire protocol)
XENSTORE_PATHS = ("/run/xenstored/socket", "/var/run/xenstored/socket", "/dev/xen/xenbus")
PRIVCMD = "/dev/xen/privcmd"


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
    max_staleness: float | None = None
    # the toolstack: "xend", "libxl" (through the ``xl`` command) or "none"; None = find out
    # at connect time (``driver.detect``). ``xl_command`` is the argv prefix that runs ``xl``;
    # ``config_dir`` keeps the libxl toolstack's defined domains.
    toolstack: str | None = "xend"
    xl_command: tuple[str, ...] | None = None
    config_dir: str | None = None
    hypervisor: str | None = None   # "xenctrl": the running hypervisor through libxenctrl

    @property
    def xend_only(self) -> bool:
        return self.xenstore is None and self.domtable is None and self.hypervisor is None


def probe_xenstore() -> str | None:
    """The first xenstore endpoint of this host that exists, or None."""
    env = os.environ.get("XENSTORED_PATH")
    for path in ((env,) if env else ()) + XENSTORE_PATHS:
        if os.path.exists(path):
            return path
    return None


def default_uri() -> str:
    env = os.environ.get("XVIRT_DEFAULT_URI")
    if env:
        return env
    if os.path.exists(XEND_SOCKET) or os.path.exists(PRIVCMD):
        return "xen:///"
    return "xen+sim:///default"


def _bad(name: str, value: str, why: str) -> InvalidArgError:
    return InvalidArgError(f"Failed to parse value of URI component {name}: {value!r} {why}")


def _params(uri: str, query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, each known to the scheme and given once."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=16)
    except ValueError as e:
        raise InvalidArgError(f"invalid connection URI {uri!r}: malformed parameters ({e})") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            known = ", ".join(allowed) or "none"
            raise InvalidArgError(f"Unknown URI component {name!r} in {uri!r} (known here: {known})")
        if name in out:
            raise InvalidArgError(f"URI component {name} given more than once in {uri!r}")
        out[name] = value
    return out


def _staleness(params: dict[str, str]) -> float | None:
    raw = params.get("max_staleness")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _bad("max_staleness", raw, "is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise _bad("max_staleness", raw, "must be a finite number of seconds >= 0")
    return value


def _path_param(params: dict[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.startswith("/") or "\0" in raw or len(raw) > 200:
        raise _bad(name, raw, "must be an absolute path of at most 200 characters")
    return os.path.normpath(raw)


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
    path = unquote(parts.path)
    if scheme == "xen+sim":
        params = _params(uri, parts.query, ("dir", "autostart", "max_staleness"))
        if parts.netloc:
            raise InvalidArgError(f"invalid connection URI {uri!r}: a simulated host is local (xen+sim:///NAME)")
        name = check_name(path.strip("/") or DEFAULT_NAME)
        root = _path_param(params, "dir")
        autostart = params.get("autostart", "1")
        if autostart not in ("0", "1"):
            raise _bad("autostart", autostart, "must be 0 or 1")
        if autostart == "1" and "autostart" in params and (name != DEFAULT_NAME or root is not None):
            raise _bad("autostart", autostart, f"applies only to xen+sim:///{DEFAULT_NAME} at its default place")
        p = SimPaths(root or state_dir(name))
        return Target(uri, p.xend, p.xenstored, p.domtable, sim_name=name, sim_root=root,
                      autostart=autostart == "1", max_staleness=_staleness(params),
                      # the host's toolstack is found at connect time (XenD socket present, else its ``xl``)
                      toolstack=None, xl_command=(sys.executable, "-m", "xvirt.sim.xl", "--root", p.root),
                      config_dir=os.path.join(p.root, "libxl"))
    if scheme == "xen":
        if parts.hostname and parts.hostname not in ("localhost",):
            raise NoConnectError(f"remote Xen hosts need xen+http://host:port/ (XenD only): {uri}")
        if parts.hostname:
            params = _params(uri, parts.query, ("max_staleness",))
            return Target(uri, (parts.hostname, port or 8000), max_staleness=_staleness(params))
        params = _params(uri, parts.query, ("socket", "max_staleness"))
        if path not in ("", "/", "/system"):
            raise InvalidArgError(f"invalid connection URI {uri!r}: unexpected path {path!r}")
        return Target(uri, _path_param(params, "socket") or XEND_SOCKET, probe_xenstore(), None,
                      max_staleness=_staleness(params), toolstack=None, hypervisor="xenctrl")
    if scheme == "xen+unix":
        params = _params(uri, parts.query, ("max_staleness",))
        if not path or path == "/":
            raise InvalidArgError(f"invalid connection URI {uri!r}: xen+unix:///path/to/xend-socket")
        return Target(uri, path, max_staleness=_staleness(params))
    if scheme in ("xen+http", "http"):
        params = _params(uri, parts.query, ("max_staleness",))
        if not parts.hostname:
            raise InvalidArgError(f"invalid connection URI {uri!r}: a host is required")
        return Target(uri, (parts.hostname, port or 8000), max_staleness=_staleness(params))
    raise NoConnectError(f"no connection driver available for {uri}")
