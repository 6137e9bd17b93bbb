"""Sans-IO reader and writer of the xl.cfg(5) / xm ``KEY = VALUE`` configuration format.

The grammar is the one libvirt's reader (src/util/virconf.c) and Xen's libxlutil accept, as
xl.cfg(5) describes it:

* a file is a series of ``KEY = VALUE`` settings separated by newlines or ``;``; ``#`` starts a
  comment running to the end of the line; blank lines are allowed anywhere;
* KEY: a letter or ``_`` followed by letters, digits, ``_``, ``.``, ``-`` or ``+``;
* VALUE: a string in double quotes, single quotes or triple double quotes (``\"\"\"...\"\"\"``, the
  only kind that may span lines; no escape sequences in any kind, as in virconf.c), a number
  (decimal, octal with a leading ``0``, hex with ``0x``; an optional sign), or a list
  ``[ VALUE, VALUE, ... ]`` (heterogeneous, nested, a trailing comma allowed, newlines and comments
  allowed inside).

Input is bounded (size, list depth, list length, settings); every refusal is a
:class:`xvirt.errors.ConfSyntaxError` (VIR_ERR_CONF_SYNTAX, domain VIR_FROM_CONF) whose message
names the line and column, also carried as ``int1`` / ``int2``.

The writer prints libvirt's layout (virConfWriteMem): one ``key = value`` line per setting, lists on
one line as ``[ "a", "b" ]``, strings in double quotes, single quotes when the string holds ``"``,
triple double quotes when it holds a newline or both quote kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from ..errors import ConfSyntaxError, InvalidArgError

__all__ = ["Value", "Setting", "Conf", "parse_conf", "format_conf", "format_value",
           "MAX_CONF_SIZE", "MAX_LIST_DEPTH", "MAX_LIST_ITEMS", "MAX_SETTINGS"]

Value = Union[str, int, list]

MAX_CONF_SIZE = 1024 * 1024    # bytes; a large guest config is a few KiB
MAX_LIST_DEPTH = 8             # vnuma nests 2 deep
MAX_LIST_ITEMS = 4096          # items in one list
MAX_SETTINGS = 4096            # KEY = VALUE lines
MAX_NUMBER = 2 ** 64 - 1       # virconf stores numbers as (unsigned) long long

_KEY_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_KEY_CHARS = _KEY_START | set("0123456789.-+")
_BLANK = " \t\r"


@dataclass
class Setting:
    name: str
    value: Value
    line: int = 0
    column: int = 0


@dataclass
class Conf:
    """An ordered list of settings; lookups return the first setting of a name (virConfGetValue)."""

    settings: list[Setting] = field(default_factory=list)

    def get(self, name: str, default: object = None):
        for s in self.settings:
            if s.name == name:
                return s.value
        return default

    def setting(self, name: str) -> Setting | None:
        for s in self.settings:
            if s.name == name:
                return s
        return None

    def __contains__(self, name: str) -> bool:
        return self.setting(name) is not None

    def set(self, name: str, value: Value) -> None:
        """Replace the value of ``name`` in place, or append it (virConfSetValue)."""
        for s in self.settings:
            if s.name == name:
                s.value = value
                return
        self.settings.append(Setting(name, value))

    def names(self) -> list[str]:
        return [s.name for s in self.settings]


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.line_start = 0

    # -- positions and errors --------------------------------------------------------------
    def col(self, i: int | None = None) -> int:
        i = self.i if i is None else i
        return i - self.line_start + 1

    def error(self, what: str, *, line: int | None = None, col: int | None = None):
        line = self.line if line is None else line
        col = self.col() if col is None else col
        return ConfSyntaxError(f"configuration file syntax error: line {line}, column {col}: "
                               f"{what}", int1=line, int2=col)

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def newline(self) -> None:
        self.i += 1
        self.line += 1
        self.line_start = self.i

    # -- lexical helpers -------------------------------------------------------------------
    def skip_blanks(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _BLANK:
            self.i += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            while self.i < len(self.s) and self.s[self.i] != "\n":
                self.i += 1

    def skip_space_and_comments(self) -> None:
        """Blanks, newlines and comments (allowed between list items)."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in _BLANK:
                self.i += 1
            elif c == "\n":
                self.newline()
            elif c == "#":
                self.skip_comment()
            else:
                return

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> Conf:
        conf = Conf()
        while True:
            self.skip_space_and_comments()
            while self.peek() == ";":
                self.i += 1
                self.skip_space_and_comments()
            if self.i >= len(self.s):
                return conf
            if len(conf.settings) >= MAX_SETTINGS:
                raise self.error(f"more than {MAX_SETTINGS} settings")
            line, col = self.line, self.col()
            name = self.name()
            self.skip_blanks()
            if self.peek() != "=":
                raise self.error(f"expecting '=' after '{name}'")
            self.i += 1
            self.skip_blanks()
            value = self.value(0)
            conf.settings.append(Setting(name, value, line, col))
            self.skip_blanks()
            self.skip_comment()
            c = self.peek()
            if c == ";":
                self.i += 1
            elif c == "\n":
                self.newline()
            elif c != "":
                raise self.error(f"expecting a separator (newline or ';') after the value of "
                                 f"'{name}', found {_show(c)}")

    def name(self) -> str:
        start = self.i
        if self.peek() not in _KEY_START or self.peek() == "":
            raise self.error(f"expecting a setting name, found {_show(self.peek())}")
        while self.i < len(self.s) and self.s[self.i] in _KEY_CHARS:
            self.i += 1
        return self.s[start:self.i]

    def value(self, depth: int) -> Value:
        c = self.peek()
        if c == "":
            raise self.error("expecting a value, found the end of the text")
        if c == "[":
            return self.list_(depth + 1)
        if c in "\"'":
            return self.string()
        if c.isdigit() or c in "+-":
            return self.number()
        raise self.error(f"expecting a value, found {_show(c)}")

    def string(self) -> str:
        line, col = self.line, self.col()
        if self.s.startswith('"""', self.i):
            end = self.s.find('"""', self.i + 3)
            if end < 0:
                raise self.error("unterminated string (opened with \"\"\")", line=line, col=col)
            text = self.s[self.i + 3:end]
            # account for the newlines inside the string
            nl = text.rfind("\n")
            if nl >= 0:
                self.line += text.count("\n")
                self.line_start = self.i + 3 + nl + 1
            self.i = end + 3
            return text
        quote = self.s[self.i]
        j = self.s.find(quote, self.i + 1)
        nl = self.s.find("\n", self.i + 1, len(self.s) if j < 0 else j)
        if j < 0 or nl >= 0:
            raise self.error(f"unterminated string (opened with {quote})", line=line, col=col)
        text = self.s[self.i + 1:j]
        self.i = j + 1
        return text

    def number(self) -> int:
        start, col = self.i, self.col()
        sign = 1
        if self.peek() in "+-":
            sign = -1 if self.peek() == "-" else 1
            self.i += 1
        j = self.i
        while j < len(self.s) and (self.s[j].isalnum()):
            j += 1
        word = self.s[self.i:j]
        try:
            if word[:2].lower() == "0x":
                n = int(word[2:], 16) if word[2:] else None
            elif len(word) > 1 and word[0] == "0":
                n = int(word[1:], 8)
            else:
                n = int(word, 10) if word.isdigit() and word.isascii() else None
        except ValueError:
            n = None
        if n is None or not word.isascii():
            raise self.error(f"malformed number '{self.s[start:j]}'", col=col)
        if n > MAX_NUMBER:
            raise self.error(f"number '{self.s[start:j]}' is out of range", col=col)
        self.i = j
        return sign * n

    def list_(self, depth: int) -> list:
        if depth > MAX_LIST_DEPTH:
            raise self.error(f"lists nested deeper than {MAX_LIST_DEPTH}")
        line, col = self.line, self.col()
        self.i += 1   # '['
        items: list = []
        while True:
            self.skip_space_and_comments()
            c = self.peek()
            if c == "]":
                self.i += 1
                return items
            if c == "":
                raise self.error("unterminated list (missing ']')", line=line, col=col)
            if len(items) >= MAX_LIST_ITEMS:
                raise self.error(f"more than {MAX_LIST_ITEMS} items in one list")
            items.append(self.value(depth))
            self.skip_space_and_comments()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c == "]":
                continue
            elif c == "":
                raise self.error("unterminated list (missing ']')", line=line, col=col)
            else:
                raise self.error(f"expecting ',' or ']' in a list, found {_show(c)}")


def _show(c: str) -> str:
    if c == "":
        return "the end of the text"
    if c.isprintable() and c.isascii():
        return f"'{c}'"
    return f"character U+{ord(c):04X}"


def parse_conf(text: str | bytes) -> Conf:
    """Parse configuration text; raises :class:`ConfSyntaxError` with line and column."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
        if len(data) > MAX_CONF_SIZE:
            raise ConfSyntaxError(f"configuration file syntax error: {len(data)} bytes exceed the "
                                  f"limit of {MAX_CONF_SIZE} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
            raise ConfSyntaxError(f"configuration file syntax error: line {line}, column {col}: "
                                  "the text is not valid UTF-8", int1=line, int2=col) from None
    elif not isinstance(text, str):
        raise InvalidArgError(f"configuration must be text, not {type(text).__name__}")
    if len(text) > MAX_CONF_SIZE or len(text.encode("utf-8", "surrogatepass")) > MAX_CONF_SIZE:
        raise ConfSyntaxError(f"configuration file syntax error: the text exceeds the limit of "
                              f"{MAX_CONF_SIZE} bytes")
    r = _Reader(text)
    bad = next((i for i, ch in enumerate(text)
                if ord(ch) < 32 and ch not in "\t\r\n"), None)
    if bad is not None:
        line = text.count("\n", 0, bad) + 1
        col = bad - (text.rfind("\n", 0, bad) + 1) + 1
        raise ConfSyntaxError(f"configuration file syntax error: line {line}, column {col}: "
                              f"control character U+{ord(text[bad]):04X} not allowed",
                              int1=line, int2=col)
    surrogate = _SURROGATE.search(text)  # a str that no file could hold: refused as bytes would be
    if surrogate is not None:
        bad = surrogate.start()
        line = text.count("\n", 0, bad) + 1
        col = bad - (text.rfind("\n", 0, bad) + 1) + 1
        raise ConfSyntaxError(f"configuration file syntax error: line {line}, column {col}: "
                              "the text is not valid UTF-8", int1=line, int2=col)
    return r.parse()


_SURROGATE = re.compile("[\ud800-\udfff]")


# -- writing --------------------------------------------------------------------------------------

def format_value(v: Value) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        if "\n" in v or ('"' in v and "'" in v):
            if '"""' in v or v.endswith('"'):
                raise InvalidArgError("a configuration string needing triple quotes cannot "
                                      "hold '\"\"\"' or end with '\"'")
            return f'"""{v}"""'
        if '"' in v:
            return f"'{v}'"
        return f'"{v}"'
    if isinstance(v, list):
        return "[ " + ", ".join(format_value(x) for x in v) + " ]"
    raise InvalidArgError(f"cannot write a configuration value of type {type(v).__name__}")


def format_conf(conf: Conf) -> str:
    """Text in libvirt's layout: ``name = value`` per line, a final newline."""
    return "".join(f"{s.name} = {format_value(s.value)}\n" for s in conf.settings)
