"""The host commands of virsh's "Host and Hypervisor" group: capabilities, freecell, nodememstats, nodecpustats, sysinfo, maxvcpus.

Each prints virsh 9's text (tools/virsh-host.c formats) or, with ``--json``, the same facts as
JSON. Free memory and CPU times come from the hypervisor channel (no XenD request); capabilities
from XenD's node record, once per connection and boot.
"""

from __future__ import annotations

import time

import click

from ..errors import LibvirtError
from . import format as fmt
from .session import CommandError, VirshCommand, call, emit, json_option, with_session

__all__ = ["COMMANDS", "cpu_stats_text", "cpu_percent_text"]

# virsh's virshCPUStats order and labels: (field of virNodeGetCPUStats, label)
CPU_FIELDS = (("user", "user:"), ("kernel", "system:"), ("idle", "idle:"), ("iowait", "iowait:"),
              ("intr", "intr:"))


@click.command("capabilities", cls=VirshCommand)
@json_option
@with_session
def capabilities_cmd(session, as_json):
    """Capabilities of the hypervisor/driver (XML)."""
    xml = call("failed to get capabilities", session.conn.capabilities)
    emit(fmt.to_json({"xml": xml}) if as_json else xml)


@click.command("freecell", cls=VirshCommand)
@click.option("--cellno", type=int, default=None, help="NUMA cell number.")
@click.option("--all", "all_", is_flag=True, help="Show free memory for all NUMA cells.")
@json_option
@with_session
def freecell_cmd(session, cellno, all_, as_json):
    """NUMA free memory (KiB)."""
    if all_ and cellno is not None:
        raise CommandError("Options --all and --cellno are mutually exclusive")
    conn = session.conn
    try:
        if cellno is not None:
            cells = {cellno: conn.cells_free_memory(cellno, 1)[0] // 1024}
        elif all_:
            cells = {i: b // 1024 for i, b in enumerate(conn.cells_free_memory())}
        else:
            cells = None
        total = sum(cells.values()) if cells is not None else conn.free_memory() // 1024
    except LibvirtError as e:
        raise CommandError(str(e)) from None
    if as_json:
        emit(fmt.to_json({"cells_kib": {str(k): v for k, v in (cells or {}).items()}, "total_kib": total}))
    elif cellno is not None:
        emit(f"{cellno}: {cells[cellno]} KiB\n")
    elif all_:
        emit("".join(f"{i:5d}: {kib:10d} KiB\n" for i, kib in cells.items())
             + "--------------------\n" + f"{'Total':>5}: {total:10d} KiB\n")
    else:
        emit(f"Total: {total} KiB\n")


@click.command("nodememstats", cls=VirshCommand)
@click.option("--cell", type=int, default=-1, help="Prints specified cell statistics only.")
@json_option
@with_session
def nodememstats_cmd(session, cell, as_json):
    """Memory statistics of the host (KiB)."""
    stats = call("Unable to get memory stats", session.conn.memory_stats, cell)
    emit(fmt.to_json(stats) if as_json else "".join(f"{k:<7}: {v:20d} KiB\n" for k, v in stats.items()))


def cpu_stats_text(stats: dict) -> str:
    """virsh nodecpustats without --percent: each present field, ns."""
    return "".join(f"{label:<15} {stats[field]:20d}\n" for field, label in CPU_FIELDS if field in stats)


def cpu_percent_text(first: dict, second: dict) -> str:
    """virsh nodecpustats --percent from two samples: usage, then each field's share of the interval."""
    delta = {field: second[field] - first[field] for field, _ in CPU_FIELDS if field in first and field in second}
    total = sum(delta.values()) or 1
    usage = (delta.get("user", 0) + delta.get("kernel", 0)) / total * 100
    lines = [f"{'usage:':<15} {usage:5.1f}%\n"]
    lines += [f"{label:<15} {delta[field] / total * 100:5.1f}%\n" for field, label in CPU_FIELDS if field in delta]
    return "".join(lines)


@click.command("nodecpustats", cls=VirshCommand)
@click.option("--cpu", type=int, default=-1, help="Prints specified cpu statistics only.")
@click.option("--percent", is_flag=True, help="Prints by percentage during 1 second.")
@json_option
@with_session
def nodecpustats_cmd(session, cpu, percent, as_json):
    """CPU time of the host's physical CPUs (ns), or their use over one second."""
    try:
        first = session.conn.cpu_stats(cpu)
        second = None
        if percent:
            time.sleep(1)
            second = session.conn.cpu_stats(cpu)
    except LibvirtError as e:
        raise CommandError("Unable to get node cpu stats", str(e)) from None
    if as_json:
        emit(fmt.to_json(first if second is None else {"first": first, "second": second}))
    else:
        emit(cpu_stats_text(first) if second is None else cpu_percent_text(first, second))


@click.command("sysinfo", cls=VirshCommand)
@json_option
@with_session
def sysinfo_cmd(session, as_json):
    """The host's SMBIOS information (XML)."""
    xml = call("failed to get sysinfo", session.conn.sysinfo)
    emit(fmt.to_json({"xml": xml}) if as_json else xml)


@click.command("maxvcpus", cls=VirshCommand)
@click.option("--type", "type_", default=None, help="Domain type.")
@json_option
@with_session
def maxvcpus_cmd(session, type_, as_json):
    """The most vCPUs a guest can have."""
    n = session.conn.max_vcpus(type_)
    emit(fmt.to_json({"maxvcpus": n}) if as_json else f"{n}\n")


COMMANDS = [capabilities_cmd, freecell_cmd, nodememstats_cmd, nodecpustats_cmd, sysinfo_cmd, maxvcpus_cmd]
