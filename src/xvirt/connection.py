"""``Connection`` and ``open()``: the public entry point, over the Xen driver of ``xvirt.driver``.

A connection owns one driver (three channels), is usable as a context manager and from several
threads, and refuses operations when read-only. Of the ``xen+sim`` URIs only the embedded default
host (``xen+sim:///default``) starts on demand, saying so on stderr (not with ``?autostart=0``);
any other simulated host must be running already.
"""

from __future__ import annotations

import re
import sys
from typing import NamedTuple

from . import __version__
from .constants import ListFlags, StatsGroups, DomainState as S
from .domain import Domain
from .driver import domstats, nodefacts
from .driver.records import Facts, parse_uuid as _parse_uuid
from .driver.xen import XenDriver
from .errors import (ErrorDomain, InvalidArgError, NoDomainError, NoSupportError,
                     OperationDeniedError)
from .uri import Target, parse_uri

__all__ = ["open", "Connection", "DomainStats", "NodeInfo"]


class NodeInfo(NamedTuple):
    model: str
    memory_kib: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


class DomainStats(NamedTuple):
    domain: Domain
    stats: dict
    id: int
    name: str | None


def open(uri: str | None = None, *, readonly: bool = False, max_staleness: float | None = None) -> "Connection":
    return Connection(uri, readonly=readonly, max_staleness=max_staleness)


def _start_sim(target: Target) -> None:
    from .sim import launcher  # runs the host as a separate process; imports none of its code
    started = launcher.ensure_running(target.sim_name, target.sim_root, autostart=target.autostart)
    if started is not None:
        sys.stderr.write(launcher.describe_start(started) + "\n")
        sys.stderr.flush()


class Connection:
    def __init__(self, uri: str | None = None, *, readonly: bool = False,
                 max_staleness: float | None = None) -> None:
        if max_staleness is not None and (isinstance(max_staleness, bool) or not isinstance(max_staleness, (int, float))
                                          or not max_staleness >= 0 or max_staleness == float("inf")):
            raise InvalidArgError("max_staleness must be a finite number of seconds >= 0")
        self.target = parse_uri(uri)
        if max_staleness is None:  # the keyword wins over the URI's ?max_staleness=
            max_staleness = self.target.max_staleness
        if self.target.sim_name is not None:
            _start_sim(self.target)
        self.readonly = readonly
        self._driver = XenDriver(self.target, max_staleness=max_staleness)
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return self.target.uri

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            from .events import close_source  # issue 14
            close_source(self)
            self._driver.close()

    def is_alive(self) -> bool:
        if self._closed:
            return False
        try:
            self._driver.list_ids()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not alive"
            return False

    def _check_writable(self, what: str) -> None:
        if self.readonly:
            raise OperationDeniedError(f"operation forbidden: read only access prevents {what}")

    @property
    def xend_config_format(self) -> int:
        """XenD's config format version (node ``xend_config_format``; absent before 3.0.3 = 1)."""
        return self._driver.config_format()

    @property
    def toolstack(self) -> str:
        """The host's toolstack: ``"xend"``, ``"libxl"`` (through ``xl``) or ``"none"``."""
        return self._driver.toolstack

    def events(self, *, kinds=None, uuid: str | None = None, timeout: float | None = None):
        """Domain events from now on, as an iterator and async iterator of ``xvirt.events.DomainEvent``
        (see docs/events.md); ``timeout`` ends iteration after that many quiet seconds."""
        from .events import EventStream, source_for  # issue 14
        return EventStream(source_for(self), kinds=kinds, uuid=uuid, timeout=timeout)

    def request_counts(self) -> dict:
        return self._driver.request_counts()

    def _domain(self, uuid: str) -> Domain:
        return Domain(self, uuid)

    # -- listing ----------------------------------------------------------------------------------
    def list_domain_ids(self) -> list[int]:
        return self._driver.list_ids()

    def num_of_domains(self) -> int:
        return len(self._driver.list_ids())

    def list_defined_domains(self) -> list[str]:
        return self._driver.defined_names()

    def num_of_defined_domains(self) -> int:
        return len(self._driver.defined_names())

    def _selected(self, flags: int, names: bool) -> list[Facts]:
        f = ListFlags(flags)
        active = not (f & ListFlags.INACTIVE) or bool(f & ListFlags.ACTIVE)
        inactive = not (f & ListFlags.ACTIVE) or bool(f & ListFlags.INACTIVE)
        if f & (ListFlags.RUNNING | ListFlags.PAUSED | ListFlags.OTHER) and not f & ListFlags.SHUTOFF:
            inactive = False
        facts = self._driver.all_facts(active=active, inactive=inactive, names=names)
        if f & (ListFlags.RUNNING | ListFlags.PAUSED | ListFlags.SHUTOFF | ListFlags.OTHER):
            def keep(x: Facts) -> bool:
                return bool((f & ListFlags.RUNNING and x.state in (S.RUNNING, S.BLOCKED))
                            or (f & ListFlags.PAUSED and x.state == S.PAUSED)
                            or (f & ListFlags.SHUTOFF and x.state == S.SHUTOFF)
                            or (f & ListFlags.OTHER and x.state not in (S.RUNNING, S.BLOCKED, S.PAUSED, S.SHUTOFF)))
            facts = [x for x in facts if keep(x)]
        if f & (ListFlags.PERSISTENT | ListFlags.TRANSIENT):
            managed = self._driver.persistence() if any(x.persistent is None for x in facts) else {}
            persistent = {x.uuid: x.persistent if x.persistent is not None else managed.get(x.uuid, True)
                          for x in facts}
            facts = [x for x in facts if (f & ListFlags.PERSISTENT and persistent[x.uuid])
                     or (f & ListFlags.TRANSIENT and not persistent[x.uuid])]
        return self._filter_extra(f, facts)

    def _filter_extra(self, f: ListFlags, facts: list[Facts]) -> list[Facts]:
        """libvirt's managed-save, autostart and snapshot filters (each pair: one side, or no
        filter when both or neither are given). Managed save images are files beside the host's
        save images (a stat each); autostart is the toolstack's flag (XenD: each record's
        ``on_xend_start``); Xen's toolstacks keep no snapshots, so no domain has one."""
        def pair(yes: ListFlags, no: ListFlags, test) -> None:
            nonlocal facts
            if bool(f & yes) != bool(f & no):
                want = bool(f & yes)
                facts = [x for x in facts if test(x) == want]
        pair(ListFlags.MANAGEDSAVE, ListFlags.NO_MANAGEDSAVE,
             lambda x: x.id < 0 and self._driver.has_managed_save(x.uuid))
        pair(ListFlags.AUTOSTART, ListFlags.NO_AUTOSTART, self._autostart_of)
        pair(ListFlags.HAS_SNAPSHOT, ListFlags.NO_SNAPSHOT, lambda x: False)
        return facts

    def _autostart_of(self, x: Facts) -> bool:
        try:
            return self._driver.autostart(x.uuid)
        except (NoDomainError, NoSupportError):
            return False

    def list_all_domains(self, flags: int = 0) -> list[Domain]:
        return [self._domain(x.uuid) for x in self._selected(flags, names=False)]

    def get_all_domain_stats(self, stats: int = 0, flags: int = 0) -> list[DomainStats]:
        groups = StatsGroups(stats) if stats else (StatsGroups.STATE | StatsGroups.CPU_TOTAL |
                                                   StatsGroups.BALLOON | StatsGroups.VCPU |
                                                   StatsGroups.INTERFACE | StatsGroups.BLOCK)
        list_flags = int(flags) & 0xFF  # the state/persistence filters share libvirt's bit values
        want_state, want_cpu = bool(groups & StatsGroups.STATE), bool(groups & StatsGroups.CPU_TOTAL)
        want_balloon, want_vcpu = bool(groups & StatsGroups.BALLOON), bool(groups & StatsGroups.VCPU)
        want_block, want_net = bool(groups & StatsGroups.BLOCK), bool(groups & StatsGroups.INTERFACE)
        out = []
        for x in self._selected(list_flags, names=True):
            d: dict = {}
            if want_state:
                d["state.state"], d["state.reason"] = int(x.state), x.reason
            if want_cpu and x.id >= 0:
                d["cpu.time"] = x.cpu_time_ns
            if want_balloon:
                d["balloon.current"], d["balloon.maximum"] = x.mem_kib, x.max_mem_kib
            if want_vcpu:
                d.update(domstats.vcpu_group(x))
            if want_block or want_net:
                dev = self._dev_stats_or_none(x)
                if dev is not None:
                    if want_block:
                        d.update(domstats.block_group(dev))
                    if want_net:
                        d.update(domstats.net_group(dev))
            out.append(DomainStats(Domain(self, x.uuid), d, x.id, x.name))
        return out

    def _dev_stats_or_none(self, x: Facts):
        """A running domain's device counters for the block/net groups (None: inactive, gone,
        or a host without the counters' channel, which leaves the groups out as libvirt does)."""
        if x.id < 0:
            return None
        return self._driver.dev_stats_for(x.id, x.uuid)

    # -- lookups ----------------------------------------------------------------------------------
    def lookup_by_id(self, domid: int) -> Domain:
        if not isinstance(domid, int) or isinstance(domid, bool) or domid < 0:
            raise InvalidArgError("Invalid argument: id in virDomainLookupByID must be zero or greater",
                                  domain=ErrorDomain.DOMAIN)
        return self._domain(self._driver.lookup_id(domid))

    def lookup_by_name(self, name: str) -> Domain:
        if not isinstance(name, str) or not name:
            raise InvalidArgError("virDomainLookupByName: name must be a non-empty string")
        return self._domain(self._driver.lookup_name(name))

    def lookup_by_uuid(self, uuid) -> Domain:
        return self._domain(self._driver.lookup_uuid(_parse_uuid(uuid)))

    def lookup(self, ref: str) -> Domain:
        """virsh's resolution of a domain argument: id, then UUID, then name."""
        ref = str(ref)
        if ref.isdigit():
            try:
                return self.lookup_by_id(int(ref))
            except NoDomainError:
                pass
        if len(ref) in (32, 36):
            try:
                return self.lookup_by_uuid(ref)
            except (NoDomainError, InvalidArgError):
                pass
        return self.lookup_by_name(ref)

    # -- host -------------------------------------------------------------------------------------
    def host_cpus(self) -> int:
        """Physical CPUs of the host (the hypervisor channel when there is one)."""
        return self.node_info().cpus

    def node_info(self) -> NodeInfo:
        """The host's CPUs and memory: from the hypervisor (``physinfo``) without asking the
        toolstack, else from the toolstack's host facts."""
        return NodeInfo(*self._driver.node_info())

    def hostname(self) -> str:
        return self._driver.host_static().get("host", "localhost")

    def version(self) -> int:
        node = self._driver.host_static()
        # the release is the first number in xen_extra (".4-1" -> 4); libvirt 2006 glued every
        # digit together ("41"), later versions read the first number, as here
        m = re.search(r"\d+", node.get("xen_extra", "") or "")
        digits = m.group(0) if m else ""
        try:
            major = int(node.get("xen_major", "0"))
            minor = int(node.get("xen_minor", "0"))
        except ValueError:
            major = minor = 0
        return major * 1_000_000 + minor * 1_000 + (int(digits[:3]) if digits else 0)

    # -- host: capabilities and usage (the driver picks the channel) -------------------------------
    def capabilities(self) -> str:
        """libvirt's capabilities XML of the Xen host (host CPU, migration, guest types and arches);
        from the toolstack's host facts (XenD's node record, ``xl info``), read once per boot."""
        return nodefacts.capabilities_xml(self._driver.host_static())

    def free_memory(self) -> int:
        """Free host memory in bytes (virNodeGetFreeMemory)."""
        return self._driver.node_free_kib() * 1024

    def cells_free_memory(self, start: int = 0, max_cells: int | None = None) -> list[int]:
        """Free memory in bytes of NUMA cells ``start`` .. ``start + max_cells - 1``."""
        cells = self._driver.node_cells_free_kib()
        if max_cells is None:
            max_cells = len(cells) - int(start)
        if not 0 <= int(start) < len(cells) or int(max_cells) <= 0:
            raise InvalidArgError(f"invalid argument: start cell {start} and count {max_cells} "
                                  f"for a host of {len(cells)} cell(s)")
        return [kib * 1024 for kib in cells[int(start): int(start) + int(max_cells)]]

    def memory_stats(self, cell: int = -1) -> dict[str, int]:
        """Host memory in KiB: ``total`` and ``free`` of the host (cell -1) or of one NUMA cell."""
        cells = self._driver.node_cells_free_kib()
        if cell == -1:
            return {"total": self.node_info().memory_kib, "free": sum(cells)}
        if not 0 <= int(cell) < len(cells):
            raise InvalidArgError(f"invalid argument: cell number {cell} not in 0..{len(cells) - 1}")
        if len(cells) == 1:
            return {"total": self.node_info().memory_kib, "free": cells[0]}
        return {"free": cells[int(cell)]}

    def cpu_stats(self, cpu: int = -1) -> dict[str, int]:
        """Physical CPU time in ns (``kernel``, ``user``, ``idle``, ``iowait``) of the host (cpu -1)
        or one CPU. Xen accounts only idle time per physical CPU; the rest is time spent running
        domains' vCPUs, reported as ``user`` (``kernel``/``iowait`` are not accounted: 0)."""
        times = self._driver.node_cpu_times()
        if times is None:
            raise NoSupportError("this function is not supported by the connection driver: virNodeGetCPUStats "
                                 "(physical CPU times need the hypervisor channel)")
        ncpus, idle, uptime = times
        if cpu == -1:
            total, idle_part = uptime * ncpus, idle
        elif 0 <= int(cpu) < ncpus:
            total, idle_part = uptime, idle // ncpus     # the simulated CPUs share the load evenly
        else:
            raise InvalidArgError(f"Invalid cpuNum {cpu}: the host has {ncpus} CPUs")
        idle_part = min(idle_part, total)
        return {"kernel": 0, "user": total - idle_part, "idle": idle_part, "iowait": 0}

    def cpu_map(self) -> list[bool]:
        """Which physical CPUs are online (all the hypervisor reports)."""
        return [True] * self.node_info().cpus

    def max_vcpus(self, type: str | None = None) -> int:  # noqa: A002 - libvirt's name
        """The most vCPUs a guest can have (Xen's MAX_VIRT_CPUS, as libvirt's Xen driver answers)."""
        if type is not None and str(type).lower() != "xen":
            raise InvalidArgError(f"invalid argument: virConnectGetMaxVcpus: unknown type {type!r}")
        return nodefacts.MAX_VIRT_CPUS

    def sysinfo(self) -> str:
        """libvirt's ``<sysinfo type='smbios'>`` of the host."""
        return nodefacts.sysinfo_xml(self._driver.node_dmi())

    @staticmethod
    def lib_version() -> int:
        major, minor, micro = (int(x) for x in __version__.split("."))
        return major * 1_000_000 + minor * 1_000 + micro

    def start_autostart_domains(self) -> list[Domain]:
        """Start the inactive domains marked autostart (what libvirtd does at its start; the
        simulated xl host does it at boot). Failures are logged to nobody and skipped: the
        domains that did start are returned."""
        self._check_writable("autostart")
        started, _failed = self._driver.start_autostart()
        return [self._domain(u) for u in started]

    # -- native configuration formats -------------------------------------------------------------
    def domain_xml_from_native(self, native_format: str, config: str) -> str:
        """``virConnectDomainXMLFromNative``: 'xen-xl', 'xen-xm' or 'xen-sxpr' text -> XML.

        xl and xm conversions need nothing from the host (no request is made); xen-sxpr uses
        the host's xend_config_format.
        """
        from .domxml import domain_xml_from_native
        xcf = self.xend_config_format if native_format == "xen-sxpr" else 4
        return domain_xml_from_native(native_format, config, xend_config_format=xcf)

    def domain_xml_to_native(self, native_format: str, xml: str) -> str:
        """``virConnectDomainXMLToNative``: domain XML -> 'xen-xl', 'xen-xm' or 'xen-sxpr' text."""
        from .domxml import domain_xml_to_native
        xcf = self.xend_config_format if native_format == "xen-sxpr" else 4
        return domain_xml_to_native(native_format, xml, xend_config_format=xcf)

    # -- creation ---------------------------------------------------------------------------------
    def restore(self, path: str) -> None:
        self._check_writable("virDomainRestore")
        self._driver.restore(str(path))

    def define_xml(self, xml: str) -> Domain:
        self._check_writable("virDomainDefineXML")
        return self._domain(self._driver.define_xml(xml))

    def create_xml(self, xml: str, flags: int = 0) -> Domain:
        self._check_writable("virDomainCreateXML")
        return self._domain(self._driver.create_xml(xml))
