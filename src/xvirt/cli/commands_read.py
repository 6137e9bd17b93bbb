"""The read-only ``xvirt`` commands (list, dominfo, domid, domname, domuuid, domstate, domstats, ...).

Each prints virsh 9's text (``xvirt.cli.format``) or, with ``--json``, the same facts as JSON with
stable keys. Listing and stats use one bulk call (``get_all_domain_stats``), which for running
domains costs no XenD request; only inactive domains, configs and host facts need XenD.
"""

from __future__ import annotations

import click

from ..constants import ListFlags, StatsFlags, StatsGroups
from ..errors import LibvirtError
from . import format as fmt
from .session import CommandError, VirshCommand, call, emit, json_option, resolve_domain, with_session

__all__ = ["COMMANDS"]


def _list_flags(all_: bool, inactive: bool, running: bool, paused: bool, shutoff: bool, other: bool,
                persistent: bool, transient: bool) -> int:
    """cmdList's filter flags: ACTIVE by default, INACTIVE for --inactive/--state-shutoff, both for --all."""
    flags = ListFlags.ACTIVE
    if inactive or shutoff:
        flags = ListFlags.INACTIVE
    if all_:
        flags = ListFlags.ACTIVE | ListFlags.INACTIVE
    for on, bit in ((persistent, ListFlags.PERSISTENT), (transient, ListFlags.TRANSIENT),
                    (running, ListFlags.RUNNING), (paused, ListFlags.PAUSED),
                    (shutoff, ListFlags.SHUTOFF), (other, ListFlags.OTHER)):
        if on:
            flags |= bit
    return int(flags)


def list_rows(conn, flags: int) -> list[dict]:
    """One bulk state sample -> sorted rows {id, name, uuid, state, state_code} (id None if inactive)."""
    rows = []
    for rec in conn.get_all_domain_stats(StatsGroups.STATE, flags):
        if rec.name is None:  # went away during the call
            continue
        state = int(rec.stats.get("state.state", 0))
        rows.append({"id": rec.id if rec.id is not None and rec.id >= 0 else None, "name": rec.name,
                     "uuid": rec.domain.uuid, "state": fmt.state_name(state), "state_code": state})
    return fmt.sort_list_rows(rows)


@click.command("list", cls=VirshCommand)
@click.option("--all", "all_", is_flag=True, help="List inactive & active domains.")
@click.option("--inactive", is_flag=True, help="List inactive domains.")
@click.option("--persistent", is_flag=True, help="List persistent domains.")
@click.option("--transient", is_flag=True, help="List transient domains.")
@click.option("--state-running", is_flag=True, help="List domains in running state.")
@click.option("--state-paused", is_flag=True, help="List domains in paused state.")
@click.option("--state-shutoff", is_flag=True, help="List domains in shutoff state.")
@click.option("--state-other", is_flag=True, help="List domains in other states.")
@click.option("--uuid", "show_uuid", is_flag=True, help="List UUIDs only.")
@click.option("--name", "show_name", is_flag=True, help="List domain names only.")
@click.option("--id", "show_id", is_flag=True, help="List domain IDs only.")
@click.option("--table", "show_table", is_flag=True, help="List table (default).")
@json_option
@with_session
def list_cmd(session, all_, inactive, persistent, transient, state_running, state_paused, state_shutoff,
             state_other, show_uuid, show_name, show_id, show_table, as_json):
    """List domains (running ones by default)."""
    if show_table and (show_name or show_id):
        raise CommandError("Options --table and --name are mutually exclusive" if show_name
                           else "Options --table and --id are mutually exclusive")
    flags = _list_flags(all_, inactive, state_running, state_paused, state_shutoff, state_other,
                        persistent, transient)
    rows = call("Failed to list domains", list_rows, session.conn, flags)
    if as_json:
        emit(fmt.to_json([{"id": r["id"], "name": r["name"], "uuid": r["uuid"], "state": r["state"],
                           "state_code": r["state_code"]} for r in rows]))
        return
    rows = [dict(r, state=r["state_code"]) for r in rows]
    if show_table or not (show_uuid or show_name or show_id):
        emit(fmt.list_table(rows, with_uuid=show_uuid))
    else:
        emit(fmt.list_plain(rows, uuid=show_uuid, domid=show_id, name=show_name))


def _try(fn, default=None):
    try:
        return fn()
    except LibvirtError:
        return default


def dominfo_facts(dom) -> dict:
    """What ``dominfo`` shows, read from one domain handle (each fact current at its read)."""
    info = dom.info()
    domid = dom.id
    return {"id": domid if domid >= 0 else None, "name": dom.name, "uuid": dom.uuid,
            "os_type": _try(dom.os_type), "state": fmt.state_name(info.state), "state_code": int(info.state),
            "vcpus": info.vcpus, "cpu_time_ns": info.cpu_time_ns, "max_memory_kib": info.max_mem_kib,
            "used_memory_kib": info.mem_kib, "persistent": _try(dom.is_persistent),
            "autostart": _try(dom.autostart), "managed_save": _try(dom.has_managed_save_image)}


@click.command("dominfo", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def dominfo_cmd(session, domain, as_json):
    """Basic information about a domain."""
    facts = dominfo_facts(resolve_domain(session.conn, domain))
    if as_json:
        emit(fmt.to_json(facts))
    else:
        emit(fmt.dominfo(dict(facts, state=facts["state_code"])))


@click.command("domid", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def domid_cmd(session, domain, as_json):
    """Convert a domain name or UUID to its id ("-" when inactive)."""
    domid = resolve_domain(session.conn, domain).id
    if as_json:
        emit(fmt.to_json({"id": domid if domid >= 0 else None}))
    else:
        emit(f"{domid if domid >= 0 else '-'}\n")


@click.command("domname", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def domname_cmd(session, domain, as_json):
    """Convert a domain id or UUID to its name."""
    name = resolve_domain(session.conn, domain).name
    emit(fmt.to_json({"name": name}) if as_json else f"{name}\n")


@click.command("domuuid", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def domuuid_cmd(session, domain, as_json):
    """Convert a domain name or id to its UUID."""
    uuid = resolve_domain(session.conn, domain).uuid
    emit(fmt.to_json({"uuid": uuid}) if as_json else f"{uuid}\n")


@click.command("domstate", cls=VirshCommand)
@click.argument("domain")
@click.option("--reason", is_flag=True, help="Also print the reason for the state.")
@json_option
@with_session
def domstate_cmd(session, domain, reason, as_json):
    """The state of a domain."""
    state, why = resolve_domain(session.conn, domain).state()
    if as_json:
        emit(fmt.to_json({"state": fmt.state_name(state), "state_code": int(state),
                          "reason": fmt.reason_name(state, why), "reason_code": int(why)}))
    elif reason:
        emit(f"{fmt.state_name(state)} ({fmt.reason_name(state, why)})\n")
    else:
        emit(f"{fmt.state_name(state)}\n")


_STAT_GROUPS = (("state", StatsGroups.STATE), ("cpu_total", StatsGroups.CPU_TOTAL),
                ("balloon", StatsGroups.BALLOON), ("vcpu", StatsGroups.VCPU))
_STAT_LISTS = (("list_active", StatsFlags.ACTIVE), ("list_inactive", StatsFlags.INACTIVE),
               ("list_persistent", StatsFlags.PERSISTENT), ("list_transient", StatsFlags.TRANSIENT),
               ("list_running", StatsFlags.RUNNING), ("list_paused", StatsFlags.PAUSED),
               ("list_shutoff", StatsFlags.SHUTOFF), ("list_other", StatsFlags.OTHER))


@click.command("domstats", cls=VirshCommand)
@click.option("--state", is_flag=True, help="Report domain state.")
@click.option("--cpu-total", is_flag=True, help="Report domain physical cpu usage.")
@click.option("--balloon", is_flag=True, help="Report domain balloon statistics.")
@click.option("--vcpu", is_flag=True, help="Report domain virtual cpu information.")
@click.option("--list-active", is_flag=True, help="List only active domains.")
@click.option("--list-inactive", is_flag=True, help="List only inactive domains.")
@click.option("--list-persistent", is_flag=True, help="List only persistent domains.")
@click.option("--list-transient", is_flag=True, help="List only transient domains.")
@click.option("--list-running", is_flag=True, help="List only running domains.")
@click.option("--list-paused", is_flag=True, help="List only paused domains.")
@click.option("--list-shutoff", is_flag=True, help="List only shutoff domains.")
@click.option("--list-other", is_flag=True, help="List only domains in other states.")
@click.option("--raw", is_flag=True, help="Do not pretty-print the fields (accepted; output is raw).")
@click.argument("domains", nargs=-1)
@json_option
@with_session
def domstats_cmd(session, domains, raw, as_json, **opts):
    """Statistics of one, several or all domains, from one bulk call."""
    stats = 0
    for key, bit in _STAT_GROUPS:
        if opts[key]:
            stats |= bit
    flags = 0
    for key, bit in _STAT_LISTS:
        if opts[key]:
            flags |= bit
    conn = session.conn
    wanted = None
    if domains:
        doms = [resolve_domain(conn, ref) for ref in domains]
        wanted = [d.uuid for d in doms]
        if not flags and all(d.id >= 0 for d in doms):
            flags = StatsFlags.ACTIVE  # running domains only: no need to ask XenD for inactive ones
    records = conn.get_all_domain_stats(int(stats), int(flags))
    if wanted is not None:
        by_uuid = {r.domain.uuid: r for r in records}
        records = [by_uuid[u] for u in wanted if u in by_uuid]
    records = [r for r in records if r.name is not None]
    if as_json:
        emit(fmt.to_json([{"name": r.name, "uuid": r.domain.uuid, "id": r.id if r.id >= 0 else None,
                           "stats": dict(r.stats)} for r in records]))
    elif records:
        emit(fmt.domstats([(r.name, r.stats) for r in records]))


@click.command("nodeinfo", cls=VirshCommand)
@json_option
@with_session
def nodeinfo_cmd(session, as_json):
    """Node information (CPUs, topology, memory)."""
    node = call("failed to get node information", session.conn.node_info)
    if as_json:
        emit(fmt.to_json({"model": node.model, "cpus": node.cpus, "mhz": node.mhz, "sockets": node.sockets,
                          "cores_per_socket": node.cores, "threads_per_core": node.threads,
                          "numa_cells": node.nodes, "memory_kib": node.memory_kib}))
    else:
        emit(fmt.nodeinfo(node))


@click.command("dumpxml", cls=VirshCommand)
@click.argument("domain")
@json_option
@with_session
def dumpxml_cmd(session, domain, as_json):
    """The domain's XML description."""
    dom = resolve_domain(session.conn, domain)
    xml = dom.xml_desc()
    if as_json:
        emit(fmt.to_json({"name": dom.name, "uuid": dom.uuid, "xml": xml}))
    else:
        emit(xml if xml.endswith("\n") else xml + "\n")


@click.command("uri", cls=VirshCommand)
@json_option
@with_session
def uri_cmd(session, as_json):
    """The canonical URI of the connection."""
    uri = session.conn.uri
    emit(fmt.to_json({"uri": uri}) if as_json else f"{uri}\n")


@click.command("hostname", cls=VirshCommand)
@json_option
@with_session
def hostname_cmd(session, as_json):
    """The host's name."""
    name = call("failed to get hostname", session.conn.hostname)
    emit(fmt.to_json({"hostname": name}) if as_json else f"{name}\n")


@click.command("version", cls=VirshCommand)
@json_option
@with_session
def version_cmd(session, as_json):
    """Library and hypervisor versions."""
    conn = session.conn
    lib = conn.lib_version()
    try:
        hv, problem = conn.version(), None
    except LibvirtError as e:
        hv, problem = None, e
    if as_json:
        if problem is not None:
            raise CommandError("failed to get the hypervisor version", str(problem))
        emit(fmt.to_json({"library": fmt.version_string(lib), "library_name": "xvirt",
                          "hypervisor_type": "Xen", "hypervisor": fmt.version_string(hv)}))
        return
    emit(fmt.version_text(lib, hv))
    if problem is not None:
        raise CommandError("failed to get the hypervisor version", str(problem))


COMMANDS = [list_cmd, dominfo_cmd, domid_cmd, domname_cmd, domuuid_cmd, domstate_cmd, domstats_cmd,
            nodeinfo_cmd, dumpxml_cmd, uri_cmd, hostname_cmd, version_cmd]
