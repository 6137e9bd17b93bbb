"""Pure text formatting of the ``xvirt`` commands in virsh 9's output formats (no I/O, no host).

Every function takes plain values and returns the exact text virsh 9.0 prints for them
(``tools/virsh-domain-monitor.c``, ``tools/vsh-table.c``; reference/libvirt-api.md §3.1), without
the extra blank line virsh adds after each command (the command runner adds that). Sizes given to
``setmem``/``setmaxmem`` are parsed here too, with virsh's scaled-integer suffixes.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Sequence

__all__ = [
    "STATE_NAMES", "STATE_LETTERS", "state_name", "reason_name", "table", "list_table",
    "list_plain", "dominfo", "nodeinfo", "domstats", "version_text", "version_string",
    "parse_scaled_kib", "to_json", "sort_list_rows", "typed_value",
]

# virshDomainStateToString
STATE_NAMES = {0: "no state", 1: "running", 2: "idle", 3: "paused", 4: "in shutdown",
               5: "shut off", 6: "crashed", 7: "pmsuspended"}
# virt-top's one-letter states (R running, S sleeping/blocked, P paused, D shutdown, O shutoff, X crashed)
STATE_LETTERS = {0: "?", 1: "R", 2: "S", 3: "P", 4: "D", 5: "O", 6: "X", 7: "P"}

# virshDomain*Reason tables, indexed by libvirt's reason numbers (virDomain*Reason)
_REASONS: dict[int, tuple[str, ...]] = {
    0: ("unknown",),
    1: ("unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
        "migration canceled", "save canceled", "event wakeup", "crashed", "post-copy",
        "post-copy failed"),
    2: ("unknown",),
    3: ("unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog",
        "from snapshot", "shutting down", "creating snapshot", "crashed", "starting up",
        "post-copy", "post-copy failed", "api error"),
    4: ("unknown", "user"),
    5: ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
        "from snapshot", "daemon"),
    6: ("unknown", "panicked"),
    7: ("unknown",),
}


def state_name(state: int) -> str:
    """virsh's word for a state number ("no state" for anything unknown)."""
    return STATE_NAMES.get(int(state), "no state")


def reason_name(state: int, reason: int) -> str:
    """virsh's word for a (state, reason) pair, "unknown" when out of range."""
    names = _REASONS.get(int(state), ("unknown",))
    return names[reason] if 0 <= int(reason) < len(names) else "unknown"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A vshTable: cells padded to the column's widest cell + 2, a leading space, a dash rule.

    The rule is as wide as the sum of (column width + 3); the last cell of a row is not padded.
    """
    rows = [list(map(str, r)) for r in rows]
    header = list(header)
    widths = [len(h) for h in header]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(" " + cell)
            if i < len(cells) - 1:
                out.append(" " * (widths[i] - len(cell) + 2))
        return "".join(out) + "\n"

    return line(header) + "-" * sum(w + 3 for w in widths) + "\n" + "".join(line(r) for r in rows)


def sort_list_rows(rows: list[dict]) -> list[dict]:
    """virshDomainSorter: active domains by id, then inactive ones by name, case-insensitively."""
    active = sorted((r for r in rows if r["id"] is not None and r["id"] >= 0), key=lambda r: r["id"])
    inactive = sorted((r for r in rows if r["id"] is None or r["id"] < 0), key=lambda r: r["name"].casefold())
    return active + inactive


def _id_text(domid: int | None) -> str:
    return "-" if domid is None or domid < 0 else str(domid)


def list_table(rows: list[dict], *, with_uuid: bool = False) -> str:
    """``virsh list`` (rows: dicts with id, name, state[, uuid]), already sorted."""
    header = ["Id", "Name", "State"] + (["UUID"] if with_uuid else [])
    cells = [[_id_text(r["id"]), r["name"], state_name(r["state"])] + ([r["uuid"]] if with_uuid else [])
             for r in rows]
    return table(header, cells)


def list_plain(rows: list[dict], *, uuid: bool, domid: bool, name: bool) -> str:
    """``virsh list --uuid/--id/--name``: the chosen fields per line, in that order, space-separated.

    With ``--id`` alone inactive domains are skipped (they have no id).
    """
    out = []
    for r in rows:
        if domid and not uuid and not name and (r["id"] is None or r["id"] < 0):
            continue
        fields = ([r["uuid"]] if uuid else []) + ([_id_text(r["id"])] if domid else []) + \
                 ([r["name"]] if name else [])
        out.append(" ".join(fields) + "\n")
    return "".join(out)


def _label(label: str, value: object, width: int = 15) -> str:
    return f"{label:<{width}} {value}\n"


def dominfo(info: dict) -> str:
    """``virsh dominfo``: %-15s labels; CPU time only when non-zero; OS Type/Autostart when known.

    ``info`` keys: id, name, uuid, os_type (None: line omitted), state, vcpus, cpu_time_ns,
    max_memory_kib (None: "no limit"), used_memory_kib, persistent (None: "unknown"),
    autostart (None: line omitted), managed_save (None: "unknown").
    """
    out = [_label("Id:", _id_text(info["id"])), _label("Name:", info["name"]), _label("UUID:", info["uuid"])]
    if info.get("os_type"):
        out.append(_label("OS Type:", info["os_type"]))
    out.append(_label("State:", state_name(info["state"])))
    out.append(_label("CPU(s):", info["vcpus"]))
    if info["cpu_time_ns"]:
        out.append(_label("CPU time:", f"{info['cpu_time_ns'] / 1e9:.1f}s"))
    maxmem = info["max_memory_kib"]
    out.append(_label("Max memory:", "no limit" if maxmem is None else f"{maxmem} KiB"))
    out.append(_label("Used memory:", f"{info['used_memory_kib']} KiB"))
    persistent = info.get("persistent")
    out.append(_label("Persistent:", "unknown" if persistent is None else ("yes" if persistent else "no")))
    if info.get("autostart") is not None:
        out.append(_label("Autostart:", "enable" if info["autostart"] else "disable"))
    managed = info.get("managed_save")
    out.append(_label("Managed save:", "unknown" if managed is None else ("yes" if managed else "no")))
    return "".join(out)


def nodeinfo(node) -> str:
    """``virsh nodeinfo`` from a NodeInfo(model, memory_kib, cpus, mhz, nodes, sockets, cores, threads)."""
    return "".join([
        _label("CPU model:", node.model, 20),
        _label("CPU(s):", node.cpus, 20),
        _label("CPU frequency:", f"{node.mhz} MHz", 20),
        _label("CPU socket(s):", node.sockets, 20),
        _label("Core(s) per socket:", node.cores, 20),
        _label("Thread(s) per core:", node.threads, 20),
        _label("NUMA cell(s):", node.nodes, 20),
        _label("Memory size:", f"{node.memory_kib} KiB", 20),
    ])


def typed_value(value: object) -> str:
    """vshGetTypedParamValue: integers as-is, doubles with %f, booleans yes/no, strings raw."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def domstats(records: list[tuple[str, dict]]) -> str:
    """``virsh domstats``: ``Domain: 'name'`` then ``  key=value`` lines, a blank line between records."""
    blocks = []
    for name, stats in records:
        blocks.append(f"Domain: '{name}'\n" + "".join(f"  {k}={typed_value(v)}\n" for k, v in stats.items()))
    return "\n".join(blocks)


def version_string(number: int) -> str:
    """major*1e6 + minor*1e3 + release -> "major.minor.release"."""
    number = int(number)
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def version_text(lib_version: int, hv_version: int | None, hv_type: str = "Xen",
                 lib_name: str = "xvirt") -> str:
    """``virsh version``: library (compiled against / using), API and running hypervisor lines."""
    lib = version_string(lib_version)
    out = [f"Compiled against library: {lib_name} {lib}\n", f"Using library: {lib_name} {lib}\n",
           f"Using API: {hv_type} {lib}\n"]
    if hv_version is not None:
        out.append(f"Running hypervisor: {hv_type} {version_string(hv_version)}\n")
    return "".join(out)


_SCALES = {"": 1024, "b": 1, "byte": 1, "bytes": 1,
           "k": 1024, "kib": 1024, "kb": 1000,
           "m": 1024 ** 2, "mib": 1024 ** 2, "mb": 1000 ** 2,
           "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 1000 ** 3,
           "t": 1024 ** 4, "tib": 1024 ** 4, "tb": 1000 ** 4,
           "p": 1024 ** 5, "pib": 1024 ** 5, "pb": 1000 ** 5,
           "e": 1024 ** 6, "eib": 1024 ** 6, "eb": 1000 ** 6}
_SIZE = re.compile(r"^\s*(\d+)\s*([A-Za-z]*)\s*$")


def parse_scaled_kib(text: str) -> int:
    """A virsh scaled size (default unit KiB; b, k/KiB, KB, M/MiB, MB, G/GiB, ...) in KiB, rounded up.

    Raises ValueError with virsh's wording for anything else.
    """
    m = _SIZE.match(str(text))
    if not m or m.group(2).lower() not in _SCALES:
        raise ValueError(f"Numeric value '{text}' for <size> option is malformed or out of range")
    nbytes = int(m.group(1)) * _SCALES[m.group(2).lower()]
    return -(-nbytes // 1024)


def to_json(value: object) -> str:
    """Stable JSON for scripts: two-space indent, keys in the order the command defines, newline."""
    return json.dumps(value, indent=2) + "\n"
