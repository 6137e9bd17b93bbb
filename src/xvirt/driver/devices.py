"""Device XML for attachDevice/detachDevice: parsed once, rendered for XenD (an SXP device config) or xl (argv).

A ``<disk>`` or ``<interface>`` element is parsed by the domain XML parser (wrapped in a minimal
domain, so the same bounded, entity-free parser and rules apply) and rendered with the same
converter a whole domain uses: XenD gets ``(vbd (dev ..) (uname ..) (mode ..))`` /
``(vif (mac ..) (bridge ..) ...)`` as libvirt's Xen driver posted it with ``op=device_create``;
xl gets ``block-attach <id> <target>,<vdev>,<access>`` / ``network-attach <id> mac=.. bridge=..``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidArgError, NoSupportError, XMLError
from ..protocol import sxp

__all__ = ["Device", "parse_device_xml", "xend_config", "xl_attach_args", "MAX_DEVICE_XML"]

MAX_DEVICE_XML = 64 * 1024
_WRAP = ("<domain type='xen'><name>device</name><memory>1024</memory><os><type>linux</type></os>"
         "<devices>{}</devices></domain>")


@dataclass(frozen=True)
class Device:
    kind: str            # "disk" or "interface"
    model: object        # domxml.model.Disk or Net
    xml: str             # the element as given

    @property
    def xen_class(self) -> str:
        return "vbd" if self.kind == "disk" else "vif"

    @property
    def ref(self) -> str:
        """What names the device to detach it: the disk's target, the interface's MAC."""
        return self.model.target if self.kind == "disk" else (self.model.mac or "")


def parse_device_xml(xml: str) -> Device:
    from ..domxml.xml_parse import parse_domain_xml
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidArgError("invalid argument: device XML must be a non-empty string")
    if len(xml) > MAX_DEVICE_XML:
        raise InvalidArgError(f"invalid argument: device XML larger than {MAX_DEVICE_XML} bytes")
    m = re.match(r"\s*<([A-Za-z]+)", xml)
    tag = m.group(1) if m else ""
    if tag not in ("disk", "interface"):
        raise NoSupportError(f"this function is not supported by the connection driver: attaching a "
                             f"<{tag or '?'}> device (Xen hot-plugs disks and interfaces)")
    if "<!" in xml:
        raise XMLError("XML error: DTDs and entities are not accepted")
    d = parse_domain_xml(_WRAP.format(xml))
    items = d.disks if tag == "disk" else d.nets
    if len(items) != 1:
        raise InvalidArgError(f"invalid argument: expected one <{tag}> element")
    dev = Device(tag, items[0], xml)
    if tag == "disk" and (not dev.model.target or not dev.model.source):
        raise InvalidArgError("invalid argument: a disk to attach needs <source> and <target dev=...>")
    return dev


def xend_config(dev: Device) -> str:
    """The device's SXP config as XenD's ``device_create`` takes it (from the whole-domain converter)."""
    from ..domxml import domain_xml_to_sxpr
    tree = sxp.parse(domain_xml_to_sxpr(_WRAP.format(dev.xml)))
    node = sxp.child(tree, "device")
    if node is None or len(node) < 2:
        raise InvalidArgError("invalid argument: the device has no Xen configuration")
    return sxp.show(node[1])


def xl_attach_args(dev: Device) -> list[str]:
    """``xl block-attach`` / ``network-attach`` arguments after the domain id."""
    if dev.kind == "disk":
        d = dev.model
        target = d.source if d.type == "block" or d.driver_name == "phy" else f"file:{d.source}"
        if d.type == "block" and not target.startswith("phy:"):
            target = f"phy:{target}"
        return [f"{target},{d.target},{'r' if d.readonly else 'w'}"]
    n = dev.model
    return [f"{k}={v}" for k, v in (("mac", n.mac), ("bridge", n.bridge), ("script", n.script)) if v]
