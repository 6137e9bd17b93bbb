"""The ``xl`` command's text formats: ``list``, ``list -v``, ``info`` and error lines (sans-IO, both sides).

Facts from Xen 4.17 (tools/xl/xl_list.c, xl_info.c, xl_utils.c ``find_domain``, libxl_types.idl
error numbers) and a capture of a real 4.17.5 dom0 (tests/data/realxen/): ``xl list`` prints
``%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f`` (name, id, memory MiB, online vCPUs, the six state
letters ``rbpscd``, cpu seconds); ``-v`` appends the UUID, the shutdown reason (``%8x``, ``-`` when
not shut down) and the security label. A name xl cannot resolve gives ``<ref> is an invalid domain
identifier (rc=-6)``; libxl's own messages start with ``libxl: error:``. The simulator's ``xl``
formats with these functions and the client parses with them, so both sides share one codec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ListRow", "LIST_HEADER", "LIST_HEADER_VERBOSE", "format_list_row", "parse_list",
           "format_info", "parse_info", "parse_rc", "ERRORS", "STATE_LETTERS", "MAX_OUTPUT"]

LIST_HEADER = "Name                                        ID   Mem VCPUs\tState\tTime(s)"
LIST_HEADER_VERBOSE = LIST_HEADER + "   UUID                            Reason-Code\tSecurity Label"
STATE_LETTERS = "rbpscd"   # running, blocked, paused, shutdown, crashed, dying
MAX_OUTPUT = 16 << 20      # bound on what the client reads from one xl run
MAX_LINES = 200_000

# libxl_types.idl ``libxl_error`` (the numbers xl prints as ``rc=``)
ERRORS = {-1: "NONSPECIFIC", -2: "VERSION", -3: "FAIL", -4: "NI", -5: "NOMEM", -6: "INVAL",
          -7: "BADFAIL", -8: "GUEST_TIMEDOUT", -9: "TIMEDOUT", -10: "NOPARAVIRT",
          -11: "NOT_READY", -15: "LOCK_FAIL", -17: "DEVICE_EXISTS", -21: "DOMAIN_NOTFOUND",
          -22: "ABORTED", -23: "NOTFOUND", -24: "DOMAIN_DESTROYED", -25: "FEATURE_REMOVED"}

_RC = re.compile(r"\(rc=(-?\d+)\)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


@dataclass(frozen=True)
class ListRow:
    name: str
    domid: int
    mem_mib: int
    vcpus: int
    state: str              # six letters or dashes, e.g. "-b----"
    cpu_seconds: float
    uuid: str | None = None
    reason: int | None = None


def format_list_row(row: ListRow, *, verbose: bool = False) -> str:
    line = (f"{row.name:<40} {row.domid:5d} {row.mem_mib:5d} {row.vcpus:5d}     "
            f"{row.state}  {row.cpu_seconds:8.1f}")
    if verbose:
        reason = f"{row.reason:8x}" if row.reason is not None else f"{'-':>8}"
        line += f" {row.uuid} {reason} {'-':>16}"
    return line


def parse_list(text: str) -> list[ListRow]:
    """Rows of ``xl list`` or ``xl list -v`` output; ValueError on anything else."""
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise ValueError("xl list: too many lines")
    if not lines or not lines[0].startswith("Name"):
        raise ValueError("xl list: no header line")
    verbose = "UUID" in lines[0]
    rows = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        parts = line.rsplit(None, 8 if verbose else 5)
        if len(parts) != (9 if verbose else 6):
            raise ValueError(f"xl list: line {n}: expected {'9' if verbose else '6'} fields")
        name, domid, mem, vcpus, state, secs = parts[:6]
        if len(state) != 6 or any(c not in (STATE_LETTERS[i], "-") for i, c in enumerate(state)):
            raise ValueError(f"xl list: line {n}: bad state {state!r}")
        try:
            row = ListRow(name.rstrip(), int(domid), int(mem), int(vcpus), state, float(secs))
        except ValueError:
            raise ValueError(f"xl list: line {n}: bad number") from None
        if verbose:
            uuid, reason = parts[6], parts[7]
            if not _UUID.match(uuid):
                raise ValueError(f"xl list: line {n}: bad uuid {uuid!r}")
            try:
                code = None if reason == "-" else int(reason, 16)
            except ValueError:
                raise ValueError(f"xl list: line {n}: bad reason code") from None
            row = ListRow(row.name, row.domid, row.mem_mib, row.vcpus, state, row.cpu_seconds, uuid, code)
        rows.append(row)
    return rows


def format_info(items: list[tuple[str, str]]) -> str:
    return "".join(f"{k:<23}: {v}\n" for k, v in items)


def parse_info(text: str) -> dict[str, str]:
    """``xl info``'s ``key : value`` lines."""
    out: dict[str, str] = {}
    for line in text.splitlines()[:1000]:
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_rc(stderr: str) -> int | None:
    """The libxl error number xl printed as ``(rc=N)``, if any (the last one)."""
    found = _RC.findall(stderr)
    return int(found[-1]) if found else None
