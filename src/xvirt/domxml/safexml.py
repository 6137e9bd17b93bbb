"""Bounded, entity-free XML reading into ``xml.etree`` elements, and libvirt-style XML writing.

Domain XML arrives from callers we do not trust. :func:`parse_xml` uses expat directly and refuses
any document type declaration, so no entity can be declared (billion laughs) and no external
entity or DTD can be fetched (XXE); input size and element nesting are bounded. Every failure is an
:class:`xvirt.errors.XMLError` (VIR_ERR_XML_ERROR = 27, domain VIR_FROM_XML = 5) whose message says
what is wrong and where.

:class:`XMLWriter` prints the way libvirt's virBuffer-based formatters do: two-space indentation,
single-quoted attributes, ``&apos;`` inside attribute values, and a final newline.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

from ..errors import XMLError

__all__ = ["MAX_XML_SIZE", "MAX_XML_DEPTH", "parse_xml", "XMLWriter", "xml_escape_attr",
           "xml_escape_text"]

MAX_XML_SIZE = 1024 * 1024   # bytes; a large domain definition is a few KiB
MAX_XML_DEPTH = 32           # domain XML nests about 5 deep


class _Refused(Exception):
    """Raised inside expat handlers; turned into XMLError by parse_xml."""


def parse_xml(text: str | bytes, *, max_size: int = MAX_XML_SIZE,
              max_depth: int = MAX_XML_DEPTH) -> ET.Element:
    """Parse one XML document safely and return its root element."""
    if isinstance(text, str):
        data = text.encode("utf-8")
    elif isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
    else:
        raise XMLError(f"XML document must be str or bytes, not {type(text).__name__}")
    if len(data) > max_size:
        raise XMLError(f"XML document of {len(data)} bytes exceeds the limit of {max_size} bytes")
    # Cheap refusal before expat sees anything (also catches declarations in odd encodings'
    # ASCII-compatible prefix); the handlers below are the real guard.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XMLError("XML document type declarations and entities are not allowed")

    parser = expat.ParserCreate()
    try:
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    except AttributeError:  # pragma: no cover - very old expat bindings
        pass
    stack: list[ET.Element] = []
    root: list[ET.Element] = []
    text_parts: list[list[str]] = []

    def refuse(*_args):
        raise _Refused("XML document type declarations and entities are not allowed")

    def start(tag, attrs):
        if len(stack) >= max_depth:
            raise _Refused(f"XML elements nested deeper than {max_depth} (at <{tag}>)")
        elem = ET.Element(tag, attrs)
        if stack:
            parent = stack[-1]
            _flush_text(parent, text_parts[-1], tail_of=(parent[-1] if len(parent) else None))
            parent.append(elem)
        else:
            root.append(elem)
        stack.append(elem)
        text_parts.append([])

    def end(tag):
        elem = stack.pop()
        parts = text_parts.pop()
        _flush_text(elem, parts, tail_of=(elem[-1] if len(elem) else None))

    def chars(data):
        if text_parts:
            text_parts[-1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.NotationDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SkippedEntityHandler = refuse
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise XMLError(str(e)) from None
    except expat.ExpatError as e:
        raise XMLError(f"malformed XML document: {expat.errors.messages[e.code]} "
                       f"at line {e.lineno}, column {e.offset}") from None
    except RecursionError:  # pragma: no cover - bounded by max_depth
        raise XMLError("XML document nested too deeply") from None
    if not root:
        raise XMLError("XML document has no root element")
    return root[0]


def _flush_text(elem: ET.Element, parts: list[str], tail_of: ET.Element | None) -> None:
    if not parts:
        return
    s = "".join(parts)
    parts.clear()
    if tail_of is None:
        elem.text = (elem.text or "") + s
    else:
        tail_of.tail = (tail_of.tail or "") + s


# -- writing ------------------------------------------------------------------------------------

# XML 1.0 (§2.2 Char) cannot carry these at all, not even as character references
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class UnwritableText(ValueError):
    """A value holds a character no XML 1.0 document can carry (the caller names the input)."""


def xml_escape_text(s: str) -> str:
    bad = _NOT_XML_CHAR.search(s)
    if bad:
        raise UnwritableText(f"U+{ord(bad.group()):04X} in {s[:40]!r} cannot be written as XML")
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_escape_attr(s: str) -> str:
    # libvirt's virBufferEscapeString: & < > ' " (attributes are single-quoted)
    return (xml_escape_text(s).replace("'", "&apos;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\t", "&#9;"))


class XMLWriter:
    """Indented XML output in libvirt's style; attributes with value None are left out."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0

    @staticmethod
    def _attrs(attrs: dict[str, object]) -> str:
        return "".join(f" {k}='{xml_escape_attr(str(v))}'" for k, v in attrs.items()
                       if v is not None)

    def open(self, tag: str, **attrs) -> None:
        self._lines.append(f"{'  ' * self._depth}<{tag}{self._attrs(_names(attrs))}>")
        self._depth += 1

    def close(self, tag: str) -> None:
        self._depth -= 1
        self._lines.append(f"{'  ' * self._depth}</{tag}>")

    def empty(self, tag: str, **attrs) -> None:
        self._lines.append(f"{'  ' * self._depth}<{tag}{self._attrs(_names(attrs))}/>")

    def text(self, tag: str, value: object, **attrs) -> None:
        """``<tag attrs>value</tag>``; nothing when value is None."""
        if value is None:
            return
        self._lines.append(f"{'  ' * self._depth}<{tag}{self._attrs(_names(attrs))}>"
                           f"{xml_escape_text(str(value))}</{tag}>")

    def getvalue(self) -> str:
        return "\n".join(self._lines) + "\n"


def _names(attrs: dict[str, object]) -> dict[str, object]:
    # Python keywords and dashes: pass type_='x' / listen_type='x' -> type / listen-type
    return {k.rstrip("_").replace("__", "-"): v for k, v in attrs.items()}
