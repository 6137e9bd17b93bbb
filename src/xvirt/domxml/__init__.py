"""Domain XML <-> XenD S-expression conversion (libvirt's sexpr2xml / xml2sexpr), stdlib only.

Modules: ``model`` (the shared DomainDef), ``safexml`` (safe XML reading, libvirt-style writing),
``xml_parse`` / ``xml_format`` (domain XML), ``sxpr_parse`` / ``sxpr_format`` (XenD records and
create configs), ``chardev`` (serial/parallel strings), ``facts`` (normalised facts for comparing
the two representations), ``convert`` (the public functions re-exported here); for xl.cfg(5)
and xm configs ``xlconf`` (the KEY = VALUE codec), ``xlspec`` (disk/vif/pci spec strings),
``xlcfg_parse`` / ``xlcfg_format`` (config <-> DomainDef).
"""

from .convert import (NATIVE_FORMAT, NATIVE_FORMATS, domain_xml_from_native,
                      domain_xml_from_sxpr, domain_xml_from_xl, domain_xml_to_native,
                      domain_xml_to_sxpr, domain_xml_to_xl, native_to_xml, xml_to_native)
from .facts import facts_from_sxpr, facts_from_xml

__all__ = ["NATIVE_FORMAT", "NATIVE_FORMATS", "domain_xml_from_sxpr", "domain_xml_to_sxpr",
           "domain_xml_from_native", "domain_xml_to_native", "domain_xml_from_xl",
           "domain_xml_to_xl", "xml_to_native", "native_to_xml", "facts_from_xml",
           "facts_from_sxpr"]
