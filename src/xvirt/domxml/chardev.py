"""XenD's one-string syntax for serial/parallel devices (``pty``, ``tcp:host:port,server`` ...).

XenD passes ``(serial X)`` / ``(parallel X)`` straight to qemu-dm, so X is qemu's character-device
syntax. Facts from libvirt's xen_sxpr.c (xenParseSxprChar / xenFormatSxprChr):

* a value starting with ``/`` is a host device (``dev``);
* otherwise ``TYPE[:REST]`` with TYPE one of pty null stdio vc file pipe tcp telnet udp unix;
  ``telnet`` is tcp with the telnet protocol;
* file/pipe: REST is the path; tcp/telnet: ``[host]:port[,server][,nowait]`` (``,server`` = listen);
  udp: ``[connhost]:connport[@[bindhost]:bindport]``; unix: ``path[,server][,nowait]``;
* ``none`` means no device (handled by the callers, which also count ports).
"""

from __future__ import annotations

from .model import Chr

__all__ = ["ChrSyntaxError", "parse_chr", "format_chr"]

_SIMPLE = ("pty", "null", "stdio", "vc")


class ChrSyntaxError(ValueError):
    """A character device string XenD would not understand."""


def parse_chr(value: str, tty: str | None = None) -> Chr:
    """Parse one device string (not ``none``) into a :class:`Chr`."""
    if not value:
        raise ChrSyntaxError("empty character device string")
    if value.startswith("/"):
        return Chr(type="dev", path=value)
    prefix, sep, rest = value.partition(":")
    if prefix in _SIMPLE:
        return Chr(type=prefix, path=tty if prefix == "pty" else None)
    if prefix in ("file", "pipe"):
        if not rest:
            raise ChrSyntaxError(f"missing path in character device '{value}'")
        return Chr(type=prefix, path=rest)
    if prefix in ("tcp", "telnet"):
        host, colon, service = rest.partition(":")
        if not colon:
            raise ChrSyntaxError(f"malformed character device string '{value}'")
        service, _, options = service.partition(",")
        if not service:
            raise ChrSyntaxError(f"missing port in character device '{value}'")
        return Chr(type="tcp", host=host or None, service=service,
                   listen="server" in options.split(","),
                   protocol="telnet" if prefix == "telnet" else "raw")
    if prefix == "udp":
        conn, at, bind = rest.partition("@")
        chost, colon, cservice = conn.partition(":")
        if not colon or not cservice:
            raise ChrSyntaxError(f"malformed character device string '{value}'")
        c = Chr(type="udp", connect_host=chost or None, connect_service=cservice)
        if at:
            bhost, colon, bservice = bind.partition(":")
            if not colon:
                raise ChrSyntaxError(f"malformed character device string '{value}'")
            c.bind_host, c.bind_service = bhost or None, bservice or None
        return c
    if prefix == "unix":
        path, _, options = rest.partition(",")
        if not path:
            raise ChrSyntaxError(f"missing path in character device '{value}'")
        return Chr(type="unix", path=path, listen="server" in options.split(","))
    raise ChrSyntaxError(f"unknown character device type '{prefix}' in '{value}'")


def format_chr(c: Chr) -> str:
    """The XenD string for a device (inverse of :func:`parse_chr`)."""
    if c.type in _SIMPLE:
        return c.type
    if c.type in ("file", "pipe"):
        return f"{c.type}:{c.path}"
    if c.type == "dev":
        return c.path or ""
    if c.type == "tcp":
        proto = "telnet" if c.protocol == "telnet" else "tcp"
        return f"{proto}:{c.host or ''}:{c.service or ''}{',server,nowait' if c.listen else ''}"
    if c.type == "udp":
        out = f"udp:{c.connect_host or ''}:{c.connect_service or ''}"
        if c.bind_host or c.bind_service:
            out += f"@{c.bind_host or ''}:{c.bind_service or ''}"
        return out
    if c.type == "unix":
        return f"unix:{c.path}{',server,nowait' if c.listen else ''}"
    raise ChrSyntaxError(f"character device type '{c.type}' has no XenD syntax")
