"""S-expressions as XenD speaks them: parse and print, no I/O.

Values are plain Python: a list is a ``list``, every atom is a ``str`` (numbers stay text; typed
conversion belongs to whoever reads a field). The grammar follows xend's ``sxp.py`` (Xen 3.0.x;
summarised in docs/design.md §6.2):

* whitespace separates; ``(`` opens and ``)`` closes a list;
* ``'...'`` and ``"..."`` are strings with backslash escapes ``\\a \\b \\t \\n \\v \\f \\r \\\\ \\'
  \\"``, ``\\xHH`` and octal ``\\NNN`` (an unknown escape keeps the backslash, as xend 3.0.4);
* any other printable ASCII character starts an atom, which ends before whitespace, one of
  ``{}()<>[]!;`` or ``#``; ``#`` outside a string starts a comment to the end of the line;
* several values may follow each other at top level.

``show`` prints the way ``sxp.show`` does (no newlines, a single space between elements, bare
atoms when every character is alphanumeric or one of ``.-_:/~``, anything else quoted) except that
the empty string prints as ``''`` so that ``parse(show(x)) == x`` for every tree: xend would print
nothing there, which reads back as a missing value.

``mode="lenient"`` reads what libvirt's own reader (src/sexpr.c) accepted: only ``'`` delimits
strings, a bare atom runs to the next whitespace or parenthesis, text after the first complete
value is ignored and missing closing brackets at the end are supplied. Inputs are bounded
in size and nesting depth; violations raise :class:`xvirt.errors.SexprError`.
"""

from __future__ import annotations

import re
from typing import Iterator, Union

from ..errors import SexprError

__all__ = ["Value", "parse", "parse_all", "show", "needs_quoting", "child", "child_value",
           "children", "MAX_INPUT", "MAX_DEPTH"]

Value = Union[str, list]

MAX_INPUT = 64 * 1024 * 1024  # bytes: a 10000-domain detail listing is ~10 MB
MAX_DEPTH = 64

_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
            "\\": "\\", "'": "'", '"': '"'}
_BARE = re.compile(r"[A-Za-z0-9.\-_:/~]+\Z")
# One token per match, leading whitespace included; groups by number for speed:
# 1 comment, 2 "(", 3 ")", 4 '...', 5 "...", 6 atom. An atom starts with a printable ASCII
# character other than a bracket, quote or "#", and runs while printable ASCII other than
# {}()<>[]!;# follows.
_TOKEN = re.compile(
    r"""[ \t\n\r\v\f]*(?:
        (\#[^\n]*)
      | (\()
      | (\))
      | '((?:[^'\\]|\\.)*)'
      | "((?:[^"\\]|\\.)*)"
      | ([!$-&*-~][^\x00-\x20\x7f-\U0010ffff{}()<>\[\]!;\#]*)
    )""", re.VERBOSE | re.DOTALL)
# libvirt's reader (src/sexpr.c): only single quotes delimit strings; a bare atom runs to the next
# whitespace or parenthesis (so "#", "!", "[" and double quotes are ordinary atom characters)
_TOKEN_LENIENT = re.compile(
    r"""[ \t\n\r\v\f]*(?:
        ((?!))
      | (\()
      | (\))
      | '((?:[^'\\]|\\.)*)'
      | ((?!))
      | ([^ \t\n\r\v\f()'][^ \t\n\r\v\f()]*)
    )""", re.VERBOSE | re.DOTALL)
_TRAILING_WS = re.compile(r"[ \t\n\r\v\f]*\Z")
_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[0-7]{1,3}|.)", re.DOTALL)


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body

    def repl(m: re.Match) -> str:
        e = m.group(1)
        if e[0] == "x" and len(e) == 3:
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8))
        return _ESCAPES.get(e, "\\" + e)

    return _ESCAPE_RE.sub(repl, body)


def _bad_token(text: str, pos: int, lenient: bool) -> SexprError | str:
    """Why no token starts at ``pos`` (after whitespace); a string for libvirt's open-ended quote."""
    while pos < len(text) and text[pos] in " \t\n\r\v\f":
        pos += 1
    ch = text[pos]
    if ch == "'" or (ch == '"' and not lenient):
        if lenient:  # libvirt: an unterminated string runs to the end of input
            return _unescape(text[pos + 1:])
        return SexprError(f"malformed S-expression: unexpected EOF in string at offset {pos}")
    return SexprError(f"malformed S-expression: invalid character: code {ord(ch)} at offset {pos}")


def _check_size(text: str | bytes, max_size: int) -> str:
    if len(text) > max_size:
        raise SexprError(f"malformed S-expression: input of {len(text)} bytes exceeds limit {max_size}")
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise SexprError(f"malformed S-expression: not UTF-8 ({e.reason} at offset {e.start})") from None
    return text


def parse_all(text: str | bytes, *, mode: str = "strict", max_size: int = MAX_INPUT,
              max_depth: int = MAX_DEPTH) -> list[Value]:
    """Parse every top-level value in ``text`` (strict mode); the first one (lenient mode)."""
    if mode not in ("strict", "lenient"):
        raise ValueError(f"unknown S-expression mode {mode!r}")
    text = _check_size(text, max_size)
    lenient = mode == "lenient"
    match = (_TOKEN_LENIENT if lenient else _TOKEN).match
    out: list[Value] = []
    stack: list[list] = []
    top = out
    pos, n = 0, len(text)
    while pos < n:
        m = match(text, pos)
        if m is None:
            if _TRAILING_WS.match(text, pos):
                break
            bad = _bad_token(text, pos, lenient)
            if isinstance(bad, SexprError):
                raise bad
            top.append(bad)
            break
        pos = m.end()
        kind = m.lastindex
        if kind == 6:
            top.append(m.group(6))
        elif kind == 2:
            if len(stack) >= max_depth:
                raise SexprError(f"malformed S-expression: nesting deeper than {max_depth} at offset {m.start(2)}")
            new: list = []
            top.append(new)
            stack.append(new)
            top = new
            continue
        elif kind == 3:
            if not stack:
                if lenient and out:
                    break  # libvirt ignores what follows the first complete value
                raise SexprError(f"malformed S-expression: syntax error: ) at offset {m.start(3)}")
            stack.pop()
            top = stack[-1] if stack else out
        elif kind == 4 or kind == 5:
            top.append(_unescape(m.group(kind)))
        else:  # comment
            continue
        if lenient and not stack:
            break
    if stack and not lenient:
        raise SexprError("malformed S-expression: unexpected EOF (unclosed list)")
    return out[:1] if lenient else out


def parse(text: str | bytes, *, mode: str = "strict", max_size: int = MAX_INPUT,
          max_depth: int = MAX_DEPTH) -> Value:
    """Parse exactly one value (strict) or the first value (lenient)."""
    values = parse_all(text, mode=mode, max_size=max_size, max_depth=max_depth)
    if not values:
        raise SexprError("malformed S-expression: empty input")
    if len(values) > 1:
        raise SexprError(f"malformed S-expression: {len(values)} top-level values where one was expected")
    return values[0]


def needs_quoting(s: str) -> bool:
    return not _BARE.match(s)


def _quote(s: str) -> str:
    q = '"' if ("'" in s and '"' not in s) else "'"
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == q:
            out.append("\\" + q)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return q + "".join(out) + q


def show(value: Value | int | float) -> str:
    """Print a value as xend's ``sxp.show`` does (``''`` for the empty string)."""
    parts: list[str] = []
    _show(value, parts, 0)
    return "".join(parts)


def _show(value, parts: list[str], depth: int) -> None:
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise SexprError(f"S-expression nesting deeper than {MAX_DEPTH}")
        parts.append("(")
        for i, v in enumerate(value):
            if i:
                parts.append(" ")
            _show(v, parts, depth + 1)
        parts.append(")")
    elif isinstance(value, bool):
        parts.append("1" if value else "0")
    elif isinstance(value, (int, float)):
        parts.append(str(value))
    elif isinstance(value, str):
        parts.append(value if value and _BARE.match(value) else _quote(value))
    else:
        raise TypeError(f"cannot print {type(value).__name__} as an S-expression")


# -- record helpers (xend's child/child_value; first match wins, as libvirt's sexpr_node) --

def children(value: Value, name: str | None = None) -> Iterator[list]:
    """Child lists of ``value`` (after its head), optionally only those headed by ``name``."""
    if not isinstance(value, list):
        return
    for c in value[1:]:
        if isinstance(c, list) and c and (name is None or c[0] == name):
            yield c


def child(value: Value, name: str) -> list | None:
    for c in children(value, name):
        return c
    return None


def child_value(value: Value, path: str, default: str | None = None) -> str | None:
    """Value at ``a/b/c`` below ``value``: second element of the first matching child list.

    A list with no second element (``(features )``) counts as missing and gives ``default``.
    """
    node: Value | None = value
    for part in path.split("/"):
        node = child(node, part) if node is not None else None
        if node is None:
            return default
    assert isinstance(node, list)
    if len(node) < 2 or not isinstance(node[1], str):
        return default
    return node[1]
