"""Domain XML <-> XenD S-expression conversion (libvirt's sexpr2xml / xml2sexpr), stdlib only.

Modules: ``model`` (the shared DomainDef), ``safexml`` (safe XML reading, libvirt-style writing),
``xml_parse`` / ``xml_format`` (domain XML), ``sxpr_parse`` / ``sxpr_format`` (XenD records and
create configs), ``chardev`` (serial/parallel strings), ``facts`` (normalised facts for comparing
the two representations), ``convert`` (the public functions re-exported here).
"""

from .convert import (NATIVE_FORMAT, domain_xml_from_native, domain_xml_from_sxpr,
                      domain_xml_to_native, domain_xml_to_sxpr)
from .facts import facts_from_sxpr, facts_from_xml

__all__ = ["NATIVE_FORMAT", "domain_xml_from_sxpr", "domain_xml_to_sxpr",
           "domain_xml_from_native", "domain_xml_to_native", "facts_from_xml", "facts_from_sxpr"]
