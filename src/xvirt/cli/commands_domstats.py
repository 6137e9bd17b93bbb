"""virsh's per-domain monitoring commands: domblkstat, domifstat, dommemstat, vcpuinfo (virsh 9's text).

Formats follow tools/virsh-domain-monitor.c (``cmdDomblkstat``, ``cmdDomIfstat``,
``cmdDomMemStat``) and tools/virsh-domain.c (``cmdVcpuinfo``); ``--json`` gives the same facts.
"""

from __future__ import annotations

import click

from ..errors import LibvirtError
from . import format as fmt
from .session import CommandError, VirshCommand, emit, json_option, resolve_domain, with_session

__all__ = ["COMMANDS", "blkstat_text", "ifstat_text", "memstat_text", "vcpuinfo_text"]

VCPU_STATES = {0: "offline", 1: "running", 2: "blocked"}
BLK_FIELDS = ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs")
IF_FIELDS = ("rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop")


def blkstat_text(device: str, stats) -> str:
    return "".join(f"{device} {k} {v}\n" for k, v in zip(BLK_FIELDS, stats))


def ifstat_text(device: str, stats) -> str:
    return "".join(f"{device} {k} {v}\n" for k, v in zip(IF_FIELDS, stats))


def memstat_text(stats: dict) -> str:
    return "".join(f"{k} {v}\n" for k, v in stats.items())


def vcpuinfo_text(vcpus) -> str:
    out = []
    for v in vcpus:
        out.append(f"{'VCPU:':<15} {v.number}\n{'CPU:':<15} {v.cpu}\n"
                   f"{'State:':<15} {VCPU_STATES.get(v.state, 'no state')}\n"
                   f"{'CPU time:':<15} {v.cpu_time_ns / 1e9:.1f}s\n"
                   f"{'CPU Affinity:':<15} {''.join('y' if on else '-' for on in v.affinity)}\n\n")
    return "".join(out)


def _dom(session, domain):
    return resolve_domain(session.conn, domain)


@click.command("domblkstat", cls=VirshCommand)
@click.argument("domain")
@click.argument("device", required=False, default="")
@click.option("--human", is_flag=True, help="Print a more human readable output.")
@json_option
@with_session
def domblkstat_cmd(session, domain, device, human, as_json):
    """Get device block stats for a running domain."""
    dom = _dom(session, domain)
    try:
        stats = dom.block_stats(device)
    except LibvirtError as e:
        raise CommandError(f"Failed to get block stats {domain} {device}", str(e)) from None
    if as_json:
        emit(fmt.to_json(dict(zip(BLK_FIELDS, stats))))
    elif human:
        labels = ("number of read operations:", "number of bytes read:", "number of write operations:",
                  "number of bytes written:", "error count:")
        emit(f"Device: {device}\n" + "".join(f" {lab:<27} {v}\n" for lab, v in zip(labels, stats)))
    else:
        emit(blkstat_text(device, stats))


@click.command("domifstat", cls=VirshCommand)
@click.argument("domain")
@click.argument("interface")
@json_option
@with_session
def domifstat_cmd(session, domain, interface, as_json):
    """Get network interface stats for a running domain."""
    dom = _dom(session, domain)
    try:
        stats = dom.interface_stats(interface)
    except LibvirtError as e:
        raise CommandError(f"Failed to get interface stats {domain} {interface}", str(e)) from None
    emit(fmt.to_json(dict(zip(IF_FIELDS, stats))) if as_json else ifstat_text(interface, stats))


@click.command("dommemstat", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def dommemstat_cmd(session, domain, as_json):
    """Get memory statistics for a running domain (KiB)."""
    dom = _dom(session, domain)
    try:
        stats = dom.memory_stats()
    except LibvirtError as e:
        raise CommandError("Failed to get memory statistics", str(e)) from None
    emit(fmt.to_json(stats) if as_json else memstat_text(stats))


@click.command("vcpuinfo", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def vcpuinfo_cmd(session, domain, as_json):
    """Detailed domain vcpu information."""
    dom = _dom(session, domain)
    try:
        vcpus = dom.vcpus()
    except LibvirtError as e:
        raise CommandError(str(e)) from None
    if as_json:
        emit(fmt.to_json([{"vcpu": v.number, "cpu": v.cpu, "state": VCPU_STATES.get(v.state, "no state"),
                           "cpu_time_ns": v.cpu_time_ns, "affinity": [int(a) for a in v.affinity]}
                          for v in vcpus]))
    else:
        emit(vcpuinfo_text(vcpus))


COMMANDS = [domblkstat_cmd, domifstat_cmd, dommemstat_cmd, vcpuinfo_cmd]
