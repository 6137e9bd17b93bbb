"""Public conversions between libvirt domain XML and XenD S-expressions (libvirt's xen-sxpr format).

``domain_xml_from_sxpr`` is libvirt's sexpr2xml direction (what ``virDomainGetXMLDesc`` returned
for a XenD domain record); ``domain_xml_to_sxpr`` is xml2sexpr (the ``(vm ...)`` config posted to
XenD with ``op=new`` / ``op=create``). ``domain_xml_from_native`` / ``domain_xml_to_native`` are the
``virConnectDomainXMLFromNative`` / ``ToNative`` shapes for every format name xvirt knows:
``"xen-sxpr"`` (XenD), ``"xen-xl"`` (xl.cfg(5), libvirt's libxl driver) and ``"xen-xm"`` (xm
config files). :func:`xml_to_native` / :func:`native_to_xml` are the same two conversions with
the arguments in (text, format) order.
"""

from __future__ import annotations

from typing import Callable

from ..errors import InvalidArgError, NoSupportError, SexprError
from .safexml import UnwritableText
from .sxpr_format import format_domain_sxpr
from .sxpr_parse import parse_domain_sxpr
from .xml_format import format_domain_xml
from .xml_parse import parse_domain_xml

__all__ = ["NATIVE_FORMAT", "NATIVE_FORMATS", "domain_xml_from_sxpr", "domain_xml_to_sxpr",
           "domain_xml_from_native", "domain_xml_to_native", "xml_to_native", "native_to_xml",
           "domain_xml_from_xl", "domain_xml_to_xl"]

NATIVE_FORMAT = "xen-sxpr"   # libvirt's XEN_CONFIG_FORMAT_SEXPR
# libvirt's XEN_CONFIG_FORMAT_SEXPR, XEN_CONFIG_FORMAT_XL, XEN_CONFIG_FORMAT_XM
NATIVE_FORMATS = ("xen-sxpr", "xen-xl", "xen-xm")


def domain_xml_from_sxpr(record: str | bytes | list, *, xend_config_format: int = 4,
                         tty: str | None = None, vnc_port: int | None = None) -> str:
    """Domain XML for a XenD ``(domain ...)`` record (text or a parsed ``sxp`` tree).

    ``tty`` and ``vnc_port`` are what xenstore says for a running domain (console pty, VNC port);
    leave them None when unknown. Raises :class:`xvirt.errors.SexprError` for malformed records.
    """
    d = parse_domain_sxpr(record, xend_config_format=xend_config_format, tty=tty,
                          vnc_port=vnc_port)
    try:
        return format_domain_xml(d)
    except UnwritableText as e:  # e.g. a control character in (args ...): XML cannot say it
        raise SexprError(f"domain record: {e}") from None


def domain_xml_to_sxpr(xml: str | bytes, *, xend_config_format: int = 4,
                       network_bridge: Callable[[str], str] | None = None, driver: str = "xend") -> str:
    """The ``(vm ...)`` create config for a domain XML document.

    ``network_bridge`` maps a virtual network name to its bridge (``<interface type='network'>``).
    Raises :class:`xvirt.errors.XMLError` for invalid XML and :class:`xvirt.errors.NoSupportError`
    for valid definitions XenD cannot express.
    """
    d = parse_domain_xml(xml, driver=driver)
    return format_domain_sxpr(d, xend_config_format=xend_config_format,
                              network_bridge=network_bridge)


def domain_xml_from_xl(text: str | bytes, fmt: str = "xen-xl") -> str:
    """Domain XML (libvirt 11 libxl style) for xl.cfg (``fmt='xen-xl'``) or xm config text."""
    from .xlcfg_parse import parse_native_config
    return format_domain_xml(parse_native_config(text, fmt), style="libxl")


def domain_xml_to_xl(xml: str | bytes, fmt: str = "xen-xl") -> str:
    """xl.cfg (``fmt='xen-xl'``) or xm config text for a domain XML document."""
    from .xlcfg_format import format_native_config
    from .xlcfg_parse import libxl_post_parse
    d = parse_domain_xml(xml, driver="libxl")
    libxl_post_parse(d)
    return format_native_config(d, fmt)


def _check_format(fmt: object) -> None:
    if not isinstance(fmt, str):
        raise InvalidArgError(f"native format must be a string such as {NATIVE_FORMAT!r}, "
                              f"not {type(fmt).__name__}")
    if fmt not in NATIVE_FORMATS:
        raise NoSupportError(f"unsupported native config format '{fmt}': expecting one of "
                             + ", ".join(f"'{f}'" for f in NATIVE_FORMATS))


def domain_xml_from_native(format: str, text: str, *, xend_config_format: int = 4) -> str:
    """``virConnectDomainXMLFromNative``: native config text -> domain XML."""
    _check_format(format)
    if not isinstance(text, (str, bytes)):
        raise InvalidArgError(f"native config must be text, not {type(text).__name__}")
    if format == NATIVE_FORMAT:
        return domain_xml_from_sxpr(text, xend_config_format=xend_config_format)
    return domain_xml_from_xl(text, format)


def domain_xml_to_native(format: str, xml: str, *, xend_config_format: int = 4) -> str:
    """``virConnectDomainXMLToNative``: domain XML -> native config text."""
    _check_format(format)
    if not isinstance(xml, (str, bytes)):
        raise InvalidArgError(f"domain XML must be text, not {type(xml).__name__}")
    if format == NATIVE_FORMAT:
        return domain_xml_to_sxpr(xml, xend_config_format=xend_config_format)
    return domain_xml_to_xl(xml, format)


def xml_to_native(xml: str, fmt: str) -> str:
    """Domain XML -> native config text; ``fmt`` is 'xen-xl', 'xen-xm' or 'xen-sxpr'."""
    return domain_xml_to_native(fmt, xml)


def native_to_xml(text: str, fmt: str) -> str:
    """Native config text -> domain XML; ``fmt`` is 'xen-xl', 'xen-xm' or 'xen-sxpr'."""
    return domain_xml_from_native(fmt, text)
