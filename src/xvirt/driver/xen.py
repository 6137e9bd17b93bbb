"""The Xen driver: answers each question from the cheapest channel that can answer it correctly.

The driver composes three channels and is the only layer that knows them: the hypervisor domain
table, xenstore, and a toolstack (``toolstack.py``: XenD, libxl through ``xl``, or none).
Channel order (DESIGN §2-3): ids, UUIDs, state, memory, vcpus and cpu time come from the
hypervisor domain table (one read, no daemon); names come from xenstore (a read, or the
watch-validated cache after one round trip for bulk calls); the toolstack is asked only for
inactive domains, configs and lifecycle operations. Every answer is true at some instant during
the call: a cached id<->UUID binding is used only after the table record of that id shows the
same handle, and a name read between two table reads that agree is the name of that domain.

A destroyed domain stays in the table as ``dying`` until the hypervisor frees it, while the
toolstack has already forgotten it; the driver treats dying records as gone everywhere (lists,
lookups, a handle's id), so the channels never disagree about whether a domain runs.

On a real dom0 (``xen:///``) the hypervisor channel is libxenctrl (transport/xenctrl.py) with the
same records. Without a hypervisor channel (XenD-only URIs, or ``xen:///`` where libxenctrl cannot
be used: not dom0, not root, unknown Xen version; the reason is kept in ``hv_error`` and named in
the errors of a host without a toolstack) the driver asks the toolstack: XenD with one bulk
``?detail=1`` request for lists and stats (with ``max_staleness`` it may answer from a snapshot no
older than that), libxl with ``xl list -v``.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import threading
import uuid as _uuid

from ..errors import (ErrorCode, InvalidArgError, LibvirtError, NoDomainError, NoSupportError,
                      OperationInvalidError, XenCallError, XendError, XenstoreError)
from ..protocol import domtable as dt
from ..protocol.xenstore import XsNoEntError
from ..transport.hypervisor import DomainTableReader
from ..transport.xenstore import XenstoreClient
from ..sim.paths import SimPaths
from ..uri import Target
from .. import events as _events
from ..registry import Registry
from .configdir import DEFAULT_CONFIG_DIR
from . import domstats as _ds
from .records import Facts, facts_from_info
from .toolstack import NoToolstack, Toolstack
from .nodefacts import DMI_FIELDS, cells_of_node, node_int

__all__ = ["XenDriver"]

DMI_DIR = "/sys/class/dmi/id"
WATCHES = (("/local/domain", "xvirt-names"), ("@introduceDomain", "xvirt-intro"),
           ("@releaseDomain", "xvirt-release"))


def _no_domain(what: str) -> NoDomainError:
    return NoDomainError(f"Domain not found: {what}")


def open_hypervisor(target: Target):
    """The hypervisor channel of ``target`` and, when it could not be opened, why (a LibvirtError)."""
    if target.hypervisor == "xenctrl":
        from ..transport.xenctrl import XenctrlReader
        try:
            return XenctrlReader(), None
        except LibvirtError as e:
            return None, e
    return (DomainTableReader(target.domtable) if target.domtable else None), None


def _checked_node_info(info: tuple, error, source: str) -> tuple:
    """A host has at least one cpu and some memory, and no count is negative (issue 12)."""
    names = ("memory_kib", "cpus", "mhz", "nodes", "sockets", "cores", "threads")
    bad = [f"{k}={v}" for k, v in zip(names, info[1:]) if v < 0]
    bad += [f"{k}=0" for k, v in zip(names[:2], info[1:3]) if v == 0]
    if bad:
        raise error(f"{source} sent invalid node information: {', '.join(bad)}")
    return info


class XenDriver:
    def __init__(self, target: Target, *, max_staleness: float | None = None,
                 toolstack: Toolstack | None = None) -> None:
        self.target = target
        self.max_staleness = max_staleness
        self.hv, self.hv_error = open_hypervisor(target)
        self.xs: XenstoreClient | None = XenstoreClient(target.xenstore) if (target.xenstore and self.hv) else None
        # The name cache is validated by one round trip because xenstored queues a watch event
        # before the reply to any later request on the same connection (checked on the real C
        # xenstored's socket, tests/realxen/dom0/test_xenstore_order.py). Through the kernel's
        # /dev/xen/xenbus that does not hold (events come from the xenwatch thread, replies from
        # the reader: 2 of 100 events arrived after a later reply on Xen 4.17 / Linux 6.1), so
        # there every name is read afresh and nothing is cached.
        self._names_cacheable = not (target.xenstore and target.xenstore.startswith("/dev/"))
        self.ts: Toolstack = toolstack if toolstack is not None else make_toolstack(target, max_staleness)
        if self.hv_error is not None and isinstance(self.ts, NoToolstack):
            self.ts.why = self.hv_error.message   # a host with neither: say both
        self.ts.bind(self)
        self.registry = Registry()
        self._lock = threading.RLock()
        self._watching = False
        self._static: tuple[bytes | None, dict] | None = None

    def close(self) -> None:
        self.ts.close()
        if self.xs is not None:
            self.xs.close()
        if self.hv is not None:
            self.hv.close()

    @property
    def toolstack(self) -> str:
        return self.ts.name

    @property
    def xend(self):
        """The XenD client when the toolstack is XenD (driver-internal; None otherwise)."""
        return getattr(self.ts, "xend", None)

    def node(self) -> list:
        """XenD's node record (``GET /xend/node/``); NoSupportError on other toolstacks."""
        node = getattr(self.ts, "node", None)
        if node is None:
            raise NoSupportError(f"this function is not supported by the {self.ts.name} toolstack: "
                                 "XenD's node record")
        return node()

    # -- counts ---------------------------------------------------------------------------------
    def request_counts(self) -> dict:
        ts = self.ts.counts()
        xend, xl = ts.get("xend", {}), ts.get("xl", {})
        xs = self.xs.counts() if self.xs is not None else {}
        return {"xend": xend, "xenstore": xs, "hypervisor": self.hv.reads if self.hv else 0,
                "xl": xl, "xend_total": sum(xend.values()), "xenstore_total": sum(xs.values()),
                "xl_total": sum(xl.values()), "toolstack": self.ts.name,
                "stats": self.stats_reads()}

    # -- hypervisor helpers ---------------------------------------------------------------------
    def _current(self, uuid: str) -> dt.DomainInfo | None:
        """The live table record of ``uuid`` now: the cached binding checked, else one scan."""
        handle = _uuid.UUID(uuid).bytes
        hint = self.registry.id_hint(uuid)
        if hint is not None:
            info = self.hv.info(hint)
            if info is not None and info.handle == handle and not info.flags & dt.DYING:
                return info
        info = self.hv.find_handle(handle)
        if info is None or info.flags & dt.DYING:
            self.registry.unbind(uuid)
            return None
        self.registry.bind(uuid, info.domid)
        return info

    # -- names ------------------------------------------------------------------------------------
    def _ensure_watches(self) -> None:
        if not self._watching:
            for path, token in WATCHES:
                self.xs.watch(path, token)
            self._watching = True

    def _apply_events(self) -> set[int] | bool:
        """Apply buffered watch events; the domids whose names they touched (True: all)."""
        touched: set[int] = set()
        everything = False
        for path, _token in self.xs.events():
            hit = self.registry.apply_event(path)
            if hit is True:
                everything = True
            elif hit is not None:
                touched.add(hit)
        return True if everything else touched

    def _read_or_none(self, path: str) -> bytes | None:
        try:
            return self.xs.read(path)
        except XsNoEntError:
            return None

    def _read_name(self, domid: int) -> str | None:
        try:
            raw = self.xs.read(f"/local/domain/{domid}/name")
        except XsNoEntError:
            return None
        return raw.decode("utf-8", "replace")

    def name_of_running(self, info: dt.DomainInfo) -> str | None:
        """Name of the domain of ``info`` now; None if it is no longer running under that id."""
        uuid = info.uuid
        try:
            with self._lock:
                name = self._read_name(info.domid)
                if self._watching:
                    self._apply_events()
                again = self.hv.info(info.domid)
                if name is not None and again is not None and again.handle == info.handle:
                    if self._watching:
                        self.registry.store_name(info.domid, uuid, name)
                    return name
        except XenstoreError:
            pass  # xenstore down: XenD still knows
        facts = self.ts.facts_by_uuid(uuid, running=True)
        return facts.name if facts is not None else None

    def names_bulk(self, infos: list[dt.DomainInfo]) -> dict[str, str]:
        """Names of many running domains: one round trip validates the cache, reads fill gaps."""
        out: dict[str, str] = {}
        try:
            with self._lock:
                missing = []
                if not self._names_cacheable:   # no ordering guarantee: read every name
                    missing = list(infos)
                else:
                    self._ensure_watches()
                    self.xs.sync()
                    self._apply_events()
                for info in infos if self._names_cacheable else ():
                    name = self.registry.cached_name(info.domid, info.uuid)
                    if name is None:
                        missing.append(info)
                    else:
                        out[info.uuid] = name
                paths = [f"/local/domain/{i.domid}/name" for i in missing]
                # the device takes one message per write: no pipelining there
                values = self.xs.read_many(paths) if self._names_cacheable else [self._read_or_none(p) for p in paths]
                # an event that arrived among the pipelined replies may postdate the read it
                # concerns: such a name is true for this answer but must not be cached as valid
                touched = self._apply_events()
                for info, raw in zip(missing, values):
                    if raw is not None:
                        name = raw.decode("utf-8", "replace")
                        out[info.uuid] = name
                        if self._names_cacheable and touched is not True and info.domid not in touched:
                            self.registry.store_name(info.domid, info.uuid, name)
        except XenstoreError:
            pass
        for info in infos:  # vanished mid-call, or xenstore down: ask XenD (rare)
            if info.uuid not in out and not info.flags & dt.DYING:
                facts = self.ts.facts_by_uuid(info.uuid, running=True)
                if facts is not None and facts.name:
                    out[info.uuid] = facts.name
        return out

    # -- questions ---------------------------------------------------------------------------------
    def list_ids(self) -> list[int]:
        if self.hv is not None:
            return self.hv.list_ids(skip_dying=True)
        return sorted(f.id for f in self.ts.running_facts())

    def running_snapshot(self) -> list[dt.DomainInfo]:
        """Every live record (dying ones left out), rebinding the registry from the full set."""
        infos = [i for i in self.hv.snapshot() if not i.flags & dt.DYING]
        self.registry.full_snapshot([(i.domid, i.uuid) for i in infos])
        return infos

    def lookup_id(self, domid: int) -> str:
        if self.hv is not None:
            info = self.hv.info(domid)
            if info is None or info.flags & dt.DYING:
                raise _no_domain(f"no domain with matching id {domid}")
            self.registry.bind(info.uuid, domid)
            return info.uuid
        facts = self.ts.facts_by_id(domid)
        if facts is None:
            raise _no_domain(f"no domain with matching id {domid}")
        return facts.uuid

    def lookup_name(self, name: str) -> str:
        cheap = self.hv is not None and self.xs is not None
        searched = False  # the cheap channels answered: no running domain has that name
        if cheap:
            try:
                found = self._lookup_running_name(name)
                searched = True
            except XenstoreError:
                found = None
            if found is not None:
                return found
        facts = self.ts.facts_by_name(name, allow_snapshot=not cheap, running=False if searched else None)
        if facts is None or facts.name != name:
            raise _no_domain(f"no domain with matching name '{name}'")
        if facts.id >= 0 and self.hv is not None:
            self.registry.bind(facts.uuid, facts.id)
        return facts.uuid

    def _lookup_running_name(self, name: str) -> str | None:
        if not self._names_cacheable:     # read every name now, keep the domain whose name it is
            infos = self.running_snapshot()
            named = self.names_bulk(infos)
            for info in infos:
                if named.get(info.uuid) == name:
                    again = self.hv.info(info.domid)
                    if again is not None and again.handle == info.handle:
                        self.registry.bind(info.uuid, info.domid)
                        return info.uuid
            return None
        with self._lock:
            if self.registry.names_complete:
                self._ensure_watches()
                self.xs.sync()  # one round trip makes the (complete) name index current
                self._apply_events()
            if not self.registry.names_complete:  # first time, or an event dropped names
                infos = self.running_snapshot()
                self.names_bulk(infos)  # syncs itself
                self.registry.mark_names_complete([i.domid for i in infos])
            hit = self.registry.name_lookup(name)
            if hit is None:
                return None
            domid, uuid = hit
            info = self.hv.info(domid)
            if info is None or info.uuid != uuid:
                return None
            self.registry.bind(uuid, domid)
            return uuid

    def lookup_uuid(self, uuid: str) -> str:
        if self.hv is not None and self._current(uuid) is not None:
            return uuid
        if self.ts.facts_by_uuid(uuid, running=False if self.hv is not None else None) is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        return uuid

    def facts(self, uuid: str, *, with_name: bool = False) -> Facts:
        """Everything about ``uuid`` now; NoDomainError if XenD no longer knows it either."""
        if self.hv is not None:
            info = self._current(uuid)
            if info is not None:
                name = self.name_of_running(info) if with_name else None
                return facts_from_info(info, name)
        facts = self.ts.facts_by_uuid(uuid, running=False if self.hv is not None else None)
        if facts is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        if self.hv is not None and facts.id >= 0:
            # XenD still shows an id the table no longer has: the domain is between instances
            info = self._current(uuid)
            if info is not None:
                return facts_from_info(info, facts.name)
        return facts

    def current_id(self, uuid: str) -> int:
        if self.hv is not None:
            info = self._current(uuid)
            if info is not None:
                return info.domid
        return self.facts(uuid).id

    def name(self, uuid: str) -> str:
        facts = self.facts(uuid, with_name=True)
        if facts.name is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        return facts.name

    def running_id(self, uuid: str) -> int | None:
        """The id ``uuid`` runs under now, or None (hypervisor channel, else the toolstack)."""
        if self.hv is not None:
            info = self._current(uuid)
            return info.domid if info is not None else None
        facts = self.ts.facts_by_uuid(uuid)
        return facts.id if facts is not None and facts.id >= 0 else None

    def running_uuids(self) -> set[str]:
        """UUIDs of the running domains: one hypervisor read, else the toolstack's bulk list."""
        if self.hv is not None:
            return {i.uuid for i in self.hv.snapshot() if not i.flags & dt.DYING}
        return {f.uuid for f in self.ts.running_facts()}

    def persistence(self) -> dict[str, bool]:
        return self.ts.persistence()

    def is_persistent(self, uuid: str) -> bool:
        return self.ts.is_persistent(uuid)

    def defined_names(self) -> list[str]:
        return self.ts.defined_names()

    def all_facts(self, *, active: bool, inactive: bool, names: bool = True) -> list[Facts]:
        out: list[Facts] = []
        if active:
            if self.hv is not None:
                infos = self.running_snapshot()
                named = self.names_bulk(infos) if names else {}
                out += [facts_from_info(i, named.get(i.uuid)) for i in infos
                        if not (names and i.uuid not in named)]
            else:
                out += self.ts.running_facts()
        if inactive:
            out += self.ts.defined_facts()
        return out

    def event_pause_hold(self) -> float:
        """Seconds an event source holds back a pause seen only in the hypervisor's records: the
        toolstack's destroy may begin with one (libxl), which is no SUSPENDED event."""
        return _events.PAUSE_HOLD if self.ts.pauses_before_destroy else 0.0

    def open_event_channels(self, timeout: float):
        """For an event source (``xvirt.events``): ``(xenstore, hypervisor, own)`` — a watching
        xenstore connection of its own and a hypervisor reader (its own on a shared table, then
        ``own`` is True and the caller closes it; else this driver's, shared) — or None where
        the host has no such channels (XenD-only URIs)."""
        t = self.target
        if not (t.xenstore and (t.domtable or self.hv is not None)):
            return None
        hv, own = (DomainTableReader(t.domtable), True) if t.domtable else (self.hv, False)
        try:
            return XenstoreClient(t.xenstore, timeout=timeout), hv, own
        except BaseException:
            if own:
                hv.close()
            raise

    # -- host -----------------------------------------------------------------------------------
    def host_static(self) -> dict[str, str]:
        """The toolstack's host facts, kept for this boot of the host: hostname, Xen version and
        config format do not change while it runs (a new boot has a new boot id)."""
        boot = self.hv.boot_id() if self.hv is not None else None
        if self._static is None or self._static[0] != boot:
            self._static = (boot, self.ts.host_info())
        return self._static[1]

    def node_info(self) -> tuple:
        """(model, memory KiB, cpus, MHz, nodes, sockets, cores, threads): from the hypervisor
        (``physinfo``) without asking the toolstack, else from the toolstack's host facts."""
        if self.hv is not None:
            p = self.hv.physinfo()
            if p.cpu_mhz:
                nodes, sockets, cores, threads = p.topology
                return _checked_node_info(("x86_64", p.total_memory_mib * 1024, p.host_cpus, p.cpu_mhz,
                                           nodes, sockets, cores, threads), XenCallError, "the hypervisor")
        info = self.ts.host_info()

        def v(key: str, default: str = "0") -> int:
            try:
                return int(float(info.get(key, default)))
            except (ValueError, TypeError):
                return -1  # refused below, never read as a real count
        cpus, nodes = v("nr_cpus"), v("nr_nodes", "1") or 1
        cores, threads = v("cores_per_socket", "1") or 1, v("threads_per_core", "1") or 1
        sockets = v("sockets_per_node", "0") or max(1, cpus // max(1, nodes * cores * threads))
        return _checked_node_info((info.get("machine", "x86_64"), v("total_memory") * 1024, cpus, v("cpu_mhz"),
                                   nodes, sockets, cores, threads), XendError,
                                  {"xend": "XenD", "libxl": "xl"}.get(self.ts.name, "the toolstack"))

    # -- host usage (virNodeGetFreeMemory, ...CellsFreeMemory, ...MemoryStats, ...CPUStats) --------
    def node_usage(self) -> dt.HostUsage | None:
        """Free memory and physical CPU idle time from the hypervisor channel, as a dom0 reads them
        (``physinfo`` free_pages, ``XEN_SYSCTL_getcpuinfo`` idletime): no daemon request. None
        without a hypervisor channel (or one that cannot report usage)."""
        read = getattr(self.hv, "host_usage", None)
        return read() if read is not None else None

    def node_free_kib(self) -> int:
        """Free host memory: the hypervisor's free pages, else the toolstack's ``free_memory``
        (MiB; XenD's node record or ``xl info``, one request)."""
        usage = self.node_usage()
        if usage is not None:
            return usage.free_kib
        return node_int(self.ts.host_info(), "free_memory") * 1024

    def node_cells_free_kib(self) -> list[int]:
        """Free memory per NUMA cell. One cell: the hypervisor's free pages; several: the
        toolstack's ``node_to_memory`` (libvirt's hypervisor path used ``XEN_SYSCTL_availheap``)."""
        usage = self.node_usage()
        if usage is not None and self.hv.physinfo().topology[0] <= 1:
            return [usage.free_kib]
        node = self.ts.host_info()
        return cells_of_node(node, node_int(node, "free_memory") * 1024)

    def node_dmi(self) -> dict[str, str]:
        """The host's SMBIOS facts: dom0's DMI files (libvirt's Xen driver runs dmidecode on dom0,
        ``virSysinfoRead``), so only on a local host: a simulated host runs on this machine and
        reports its SMBIOS, as libvirtd on a dom0 does. Unreadable fields (the serial and UUID
        need root) are left out."""
        if not isinstance(self.target.xend, str):
            raise NoSupportError("this function is not supported by the connection driver: "
                                 "virConnectGetSysinfo (the host's SMBIOS is only readable on the host)")
        out = {}
        for _section, fields in DMI_FIELDS.items():
            for _name, key in fields:
                try:
                    with open(os.path.join(DMI_DIR, key), encoding="utf-8", errors="replace") as f:
                        value = f.read(256).strip()
                except OSError:
                    continue
                if value:
                    out[key] = value
        if not out:   # libvirt's Xen driver: no host sysinfo -> VIR_ERR_CONFIG_UNSUPPORTED
            raise LibvirtError("Host SMBIOS information is not available", code=ErrorCode.CONFIG_UNSUPPORTED)
        return out

    def node_cpu_times(self) -> tuple[int, int, int] | None:
        """(physical CPUs, idle ns summed over them, ns since boot) from the hypervisor; None without one."""
        usage = self.node_usage()
        if usage is None:
            return None
        return self.hv.physinfo().host_cpus, usage.idle_ns, usage.uptime_ns

    def config_format(self) -> int:
        return self.ts.config_format()

    # -- configs and operations (the toolstack's; domains addressed by UUID) ----------------
    def xml_desc(self, uuid: str) -> str:
        return self.ts.xml_desc(uuid)

    # Operations that change nothing the hypervisor or xenstore push (pause, definitions, an
    # inactive rename) are told to this process's event sources (issue 14; free when none listens).
    def define_xml(self, xml: str) -> str:
        uuid = self.ts.define_xml(xml)
        if _events.listening(self):
            facts = self.ts.facts_by_uuid(uuid)
            _events.notify(self, "define", uuid, facts.name if facts is not None else None)
        return uuid

    def create_xml(self, xml: str) -> str:
        uuid = self.ts.create_xml(xml)
        # XenD creates paused and the creator unpauses at once, faster than a table poll may see:
        # tell the event sources it runs (a no-op where the domain never looked paused)
        _events.notify(self, "unpause", uuid)
        return uuid

    def restore(self, path: str) -> None:
        self.ts.restore(path)

    def start(self, uuid: str) -> None:
        if self.current_id(uuid) >= 0:
            raise OperationInvalidError("Requested operation is not valid: domain is already running")
        self.ts.start(uuid)

    def undefine(self, uuid: str) -> None:
        name = None
        if _events.listening(self):  # the name an UNDEFINED event carries, read while it exists
            facts = self.ts.facts_by_uuid(uuid)
            name = facts.name if facts is not None else None
        self.ts.undefine(uuid)
        _events.notify(self, "undefine", uuid, name)

    def shutdown(self, uuid: str) -> None:
        self.ts.shutdown(uuid)

    def reboot(self, uuid: str) -> None:
        self.ts.reboot(uuid)

    def destroy(self, uuid: str) -> None:
        # a toolstack may pause before it destroys (libxl): that pause is part of the destroy
        _events.notify(self, "destroying", uuid)
        try:
            self.ts.destroy(uuid)
        except BaseException:
            _events.notify(self, "destroy_failed", uuid)
            raise

    def suspend(self, uuid: str) -> None:
        self.ts.pause(uuid)
        _events.notify(self, "pause", uuid)

    def resume(self, uuid: str) -> None:
        self.ts.unpause(uuid)
        _events.notify(self, "unpause", uuid)

    def save(self, uuid: str, path: str) -> None:
        self.ts.save(uuid, str(path))

    def set_memory(self, uuid: str, kib: int) -> None:
        self.ts.set_memory(uuid, int(kib))

    def set_max_memory(self, uuid: str, kib: int) -> None:
        self.ts.set_max_memory(uuid, int(kib))

    def set_vcpus(self, uuid: str, n: int) -> None:
        if int(n) < 1:
            raise InvalidArgError("virDomainSetVcpus: vcpus must be at least 1")
        self.ts.set_vcpus(uuid, int(n))

    def rename(self, uuid: str, name: str) -> None:
        self.ts.rename(uuid, name)
        _events.notify(self, "rename", uuid, name)

    def autostart(self, uuid: str) -> bool:
        return self.ts.autostart(uuid)

    def set_autostart(self, uuid: str, on: bool) -> None:
        self.ts.set_autostart(uuid, bool(on))

    def start_autostart(self) -> tuple[list[str], dict[str, str]]:
        """Start every inactive domain marked autostart, as libvirtd does when it starts:
        (UUIDs started, {UUID: error message} for those that failed)."""
        wanted = self.ts.autostart_uuids()
        if not wanted:
            return [], {}
        running = self.running_uuids()
        started, failed = [], {}
        for uuid in wanted:
            if uuid in running:
                continue
            try:
                self.ts.start(uuid)
                started.append(uuid)
            except LibvirtError as e:
                failed[uuid] = e.message
        return started, failed

    # -- per-domain statistics (issue 13; driver/domstats.py says which source each uses) ------
    def _stats_reader(self):
        """The device-counter channel: the simulated host's ``stats/`` files beside its domain
        table, a real dom0's sysfs, else None (XenD-only URIs)."""
        reader = getattr(self, "_devstats", False)
        if reader is False:
            from ..transport.devstats import SimStatsReader, SysfsStatsReader
            if self.target.domtable:
                reader = SimStatsReader(os.path.join(os.path.dirname(self.target.domtable), "stats"))
            elif self.target.hypervisor == "xenctrl" and self.hv is not None:
                reader = SysfsStatsReader("/")
            else:
                reader = None
            self._devstats = reader
        return reader

    def stats_reads(self) -> int:
        reader = self._stats_reader()
        return reader.reads if reader is not None else 0

    def _running_info(self, uuid: str) -> dt.DomainInfo:
        if self.hv is None:
            raise _ds.no_counters()
        info = self._current(uuid)
        if info is None:
            self.lookup_uuid(uuid)   # NoDomainError for an unknown UUID
            raise _ds.not_running()
        return info

    def dev_stats(self, uuid: str, info: dt.DomainInfo | None = None):
        """The device counters of running ``uuid`` now (one file read, no daemon)."""
        from ..protocol.devstats import DomainDevStats
        info = info if info is not None else self._running_info(uuid)
        reader = self._stats_reader()
        if reader is None:
            raise _ds.no_counters()
        stats = reader.read(info.domid, info.uuid)
        return stats if stats is not None else DomainDevStats(info.domid, info.uuid)

    def dev_stats_for(self, domid: int, uuid: str):
        """Counters of the domain a bulk snapshot showed running as ``domid`` (no hypervisor
        read: the file names its domain, so a reused id is noticed); None when there are none."""
        reader = self._stats_reader()
        return reader.read(domid, uuid) if reader is not None else None

    def block_stats(self, uuid: str, path: str) -> tuple:
        return _ds.block_tuple(_ds.find_device(self.dev_stats(uuid), "vbd", str(path)))

    def block_stats_flags(self, uuid: str, path: str) -> dict:
        return _ds.block_flags(_ds.find_device(self.dev_stats(uuid), "vbd", str(path)))

    def interface_stats(self, uuid: str, path: str) -> tuple:
        return _ds.interface_tuple(_ds.find_device(self.dev_stats(uuid), "vif", str(path)))

    def memory_stats(self, uuid: str) -> dict:
        facts = self.facts(uuid)
        if facts.id < 0:
            raise _ds.not_running()
        return _ds.memory_dict(facts)

    def vcpu_info(self, uuid: str) -> tuple[list, list]:
        """([(number, state, cpu ns, pcpu)], [affinity per vCPU as a tuple of bools]) of a running
        domain: the hypervisor record and the affinity (no daemon), else XenD's ``?op=vcpuinfo``."""
        if self.hv is None:
            return self._vcpu_info_xend(uuid)
        info = self._running_info(uuid)
        host_cpus = self.hv.physinfo().host_cpus
        affinity = self.dev_stats(uuid, info).affinity if self._stats_reader() is not None else ()
        entries = _ds.vcpu_entries(info, affinity, host_cpus)
        maps = []
        for number, *_rest in entries:
            cpus = set(affinity[number]) if number < len(affinity) and affinity[number] else set(range(host_cpus))
            maps.append(tuple(c in cpus for c in range(host_cpus)))
        return entries, maps

    def _vcpu_info_xend(self, uuid: str) -> tuple[list, list]:
        from ..protocol import sxp
        xend = self.xend
        if xend is None:
            raise _ds.no_counters()
        facts = self.facts(uuid)
        if facts.id < 0:
            raise _ds.not_running()
        rec = xend.get(f"/xend/domain/{uuid}", op="vcpuinfo")
        host_cpus = self.node_info()[2]
        entries, maps = [], []
        for v in sxp.children(rec, "vcpu") if isinstance(rec, list) else []:
            def val(key: str, default: str = "0") -> str:
                return sxp.child_value(v, key, default) or default
            if val("online") != "1":
                continue
            state = _ds.VCPU_RUNNING if val("running") == "1" else _ds.VCPU_BLOCKED
            entries.append((int(val("number")), state, int(float(val("cpu_time")) * 1e9), int(val("cpu"))))
            node = sxp.child(v, "cpumap")
            items = node[1] if node and len(node) > 1 and isinstance(node[1], list) else (node or [None])[1:]
            cpus = {int(c) for c in items if isinstance(c, str) and c.isdigit()} if node else set(range(host_cpus))
            maps.append(tuple(c in cpus for c in range(host_cpus)))
        return entries, maps

    # -- vCPU placement and the credit scheduler (issue 13) ---------------------------------------
    def host_cpus(self) -> int:
        return self.hv.physinfo().host_cpus if self.hv is not None else self.node_info()[2]

    def pin_vcpu(self, uuid: str, vcpu: int, cpus: list[int]) -> None:
        """Set one vCPU's affinity: XenD ``op=pincpu`` / ``xl vcpu-pin`` (Xen's
        ``XEN_DOMCTL_setvcpuaffinity``)."""
        facts = self.facts(uuid)
        if facts.id < 0:
            raise _ds.not_running()
        if not 0 <= vcpu < facts.max_vcpus:
            raise InvalidArgError(f"invalid argument: vcpu {vcpu} is out of range (domain has {facts.max_vcpus})")
        ncpu = self.host_cpus()
        if not cpus or any(not 0 <= c < ncpu for c in cpus):
            raise InvalidArgError(f"invalid argument: cpumap must name at least one of the host's {ncpu} CPUs")
        self.ts.pin_vcpu(uuid, vcpu, sorted(set(cpus)))

    def vcpu_pin_info(self, uuid: str) -> list[tuple[bool, ...]]:
        """Each vCPU's affinity (all vCPUs up to the maximum): running domains from the hypervisor
        (``XEN_DOMCTL_getvcpuaffinity``; the stats file here), inactive ones every CPU."""
        facts = self.facts(uuid)
        ncpu = self.host_cpus()
        affinity: tuple = ()
        if facts.id >= 0 and self.hv is not None and self._stats_reader() is not None:
            affinity = self.dev_stats(uuid).affinity
        elif facts.id >= 0 and self.xend is not None:
            _entries, maps = self._vcpu_info_xend(uuid)
            return maps + [(True,) * ncpu] * (facts.max_vcpus - len(maps))
        out = []
        for v in range(facts.max_vcpus):
            cpus = set(affinity[v]) if v < len(affinity) and affinity[v] else set(range(ncpu))
            out.append(tuple(c in cpus for c in range(ncpu)))
        return out

    def scheduler_params(self, uuid: str) -> dict[str, int]:
        """Credit scheduler weight and cap: from the hypervisor (``XEN_DOMCTL_SCHEDOP_getinfo``,
        the stats file here: no daemon), else XenD ``domain_sched_credit_get`` / ``xl sched-credit``."""
        facts = self.facts(uuid)
        if facts.id < 0:
            raise _ds.not_running()
        if self.hv is not None and self._stats_reader() is not None and self.target.domtable:
            stats = self.dev_stats(uuid)
            return {"weight": stats.weight, "cap": stats.cap}
        return self.ts.sched_credit_get(uuid)

    def set_scheduler_params(self, uuid: str, weight: int | None, cap: int | None) -> None:
        facts = self.facts(uuid)
        if facts.id < 0:
            raise _ds.not_running()
        if weight is not None and not 1 <= weight <= 65535:
            raise InvalidArgError(f"invalid argument: weight {weight} must be 1..65535")
        if cap is not None and not 0 <= cap <= 100 * self.host_cpus():
            raise InvalidArgError(f"invalid argument: cap {cap} must be 0..{100 * self.host_cpus()}")
        if weight is None and cap is None:
            return
        self.ts.sched_credit_set(uuid, weight, cap)

    # -- managed save, core dumps (issue 13) ---------------------------------------------------------
    def managed_save_path(self, uuid: str) -> str:
        """Where a domain's managed save image lives: a simulated host's save directory (XenD and
        its ``xl`` open paths there only), on XenD ``/var/lib/xen/save`` (libvirt's Xen driver), on
        libxl beside xvirt's definitions (libvirt's libxl driver keeps its own save directory)."""
        name = f"{_uuid.UUID(uuid)}.managedsave"
        if self.target.domtable:
            return os.path.join(SimPaths(os.path.dirname(self.target.domtable)).save, name)
        if self.ts.name == "libxl":
            return os.path.join(self.target.config_dir or DEFAULT_CONFIG_DIR, "save", name)
        return os.path.join("/var/lib/xen/save", name)

    def has_managed_save(self, uuid: str) -> bool:
        return os.path.isfile(self.managed_save_path(uuid))

    def managed_save(self, uuid: str) -> None:
        """Save a persistent running domain to its managed image; the next start restores it."""
        if self.running_id(uuid) is None:
            self.lookup_uuid(uuid)
            raise _ds.not_running()
        if not self.is_persistent(uuid):
            raise OperationInvalidError("Requested operation is not valid: cannot do managed save for "
                                        "transient domain")
        path = self.managed_save_path(uuid)
        if not self.target.domtable:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.ts.save(uuid, path)

    def managed_save_remove(self, uuid: str) -> None:
        self.lookup_uuid(uuid)
        try:
            os.unlink(self.managed_save_path(uuid))
        except FileNotFoundError:
            pass

    def start_from_managed_save(self, uuid: str) -> bool:
        """Restore the managed image of ``uuid`` if it has one (then the image goes, as libvirt
        removes it after a successful restore); False when there is none."""
        path = self.managed_save_path(uuid)
        if not os.path.isfile(path):
            return False
        if self.current_id(uuid) >= 0:
            raise OperationInvalidError("Requested operation is not valid: domain is already running")
        self.ts.restore(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return True

    def core_dump(self, uuid: str, path: str, *, live: bool, crash: bool) -> None:
        """XenD ``op=dump`` (file, live, crash) / ``xl dump-core``; the domain must run."""
        if self.running_id(uuid) is None:
            self.lookup_uuid(uuid)
            raise _ds.not_running()
        self.ts.core_dump(uuid, str(path), live=live, crash=crash)

    # -- metadata (issue 13): the domain XML's <description>, kept where the toolstack keeps configs --
    def description(self, uuid: str) -> str | None:
        import xml.etree.ElementTree as ET
        node = ET.fromstring(self.xml_desc(uuid)).find("description")
        return node.text or "" if node is not None else None

    def set_description(self, uuid: str, text: str | None) -> None:
        """Define the domain again with ``<description>`` changed (XenD ``op=new`` keeps it as the
        config's ``description``; libxl: xvirt's stored definition); a transient domain has no
        config to change. The XML is the driver's own (``xml_desc``), edited in place."""
        import xml.etree.ElementTree as ET
        if not self.is_persistent(uuid):
            raise OperationInvalidError("Requested operation is not valid: cannot change the metadata of a "
                                        "transient domain")
        root = ET.fromstring(self.xml_desc(uuid))
        node = root.find("description")
        if node is not None:
            root.remove(node)
        if text:
            node = ET.Element("description")
            node.text = text
            after = [i for i, child in enumerate(root) if child.tag in ("name", "uuid")]
            root.insert(after[-1] + 1 if after else 0, node)
        xml = ET.tostring(root, encoding="unicode")
        self.ts.define_xml(xml)
        if self.running_id(uuid) is not None:
            self.ts.update_running_xml(uuid, xml)   # libxl: the live definition too
    # -- device hot-plug (issue 13): XenD device_create/device_destroy, xl block-/network-attach ----
    def _device_target(self, uuid: str, xml: str, live: bool | None, config: bool):
        """The parsed device and where a hot-plug change goes: ``live`` None means the current
        state (running: live, else the config); a change that is not live goes to the config."""
        from .devices import parse_device_xml
        dev = parse_device_xml(xml)
        running = self.running_id(uuid) is not None
        if not running:
            self.lookup_uuid(uuid)
        live = running if live is None else live
        if live and not running:
            raise _ds.not_running()
        return dev, live, config or not live

    def attach_device(self, uuid: str, xml: str, *, live: bool | None = None, config: bool = False) -> None:
        """Attach a ``<disk>`` or ``<interface>``. ``live`` None means the current state (running:
        live, else the config). An interface without a MAC gets one in Xen's 00:16:3e range."""
        dev, live, config = self._device_target(uuid, xml, live, config)
        if config and not self.is_persistent(uuid):
            raise OperationInvalidError("Requested operation is not valid: cannot change the config of a "
                                        "transient domain")
        if dev.kind == "interface" and not dev.model.mac:
            import dataclasses as _dc
            mac = "00:16:3e:%02x:%02x:%02x" % tuple(os.urandom(3))
            dev = _dc.replace(dev, model=_dc.replace(dev.model, mac=mac), xml=_with_mac(dev.xml, mac))
        self.ts.attach_device(uuid, dev, live=live, config=config)

    def detach_device(self, uuid: str, xml: str, *, live: bool | None = None, config: bool = False) -> None:
        dev, live, config = self._device_target(uuid, xml, live, config)
        if dev.kind == "interface" and not dev.model.mac:
            raise InvalidArgError("invalid argument: an interface to detach is named by its <mac address=...>")
        self.ts.detach_device(uuid, dev, live=live, config=config)

    # -- migration (issue 13): XenD's relocation service ------------------------------------------------
    def migrate(self, uuid: str, dest: "XenDriver", *, live: bool) -> None:
        """Move running ``uuid`` to the host of ``dest``: XenD ``op=migrate`` towards the target's
        relocation service (a simulated host's ``relocation.sock``; a real XenD's TCP port 8002).
        The domain keeps its UUID and gets an id of the target's."""
        if self.running_id(uuid) is None:
            self.lookup_uuid(uuid)
            raise _ds.not_running()
        t = dest.target
        if t.domtable:
            destination, port = SimPaths(os.path.dirname(t.domtable)).relocation, 0
        elif isinstance(t.xend, tuple):
            destination, port = t.xend[0], 8002
        else:
            raise NoSupportError("this function is not supported by the connection driver: virDomainMigrate "
                                 "to a host reached without a relocation address")
        if self.target.domtable and t.domtable and \
                os.path.realpath(os.path.dirname(t.domtable)) == os.path.realpath(os.path.dirname(self.target.domtable)):
            raise InvalidArgError("invalid argument: the destination is the source host")
        self.ts.migrate(uuid, destination, port, live=live)


def _with_mac(xml: str, mac: str) -> str:
    """``xml`` (an ``<interface>`` element) with a ``<mac address=...>`` child first."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    node = ET.Element("mac", {"address": mac})
    root.insert(0, node)
    return ET.tostring(root, encoding="unicode")


XL_PATHS = ("/usr/sbin/xl", "/usr/local/sbin/xl")


def find_xl() -> str | None:
    """``xl`` on PATH, else where distributions install it (Debian: /usr/lib/xen-<ver>/bin/xl)."""
    found = shutil.which("xl")
    if found:
        return found
    for path in (*sorted(glob.glob("/usr/lib/xen-*/bin/xl"), reverse=True), *XL_PATHS):
        if os.access(path, os.X_OK):
            return path
    return None


def detect_toolstack(target: Target) -> Target:
    """Which toolstack the host has: a XenD socket -> XenD; else ``xl`` (the simulated host's own
    command, or the real one on PATH / in Xen's directories) -> libxl; else none (running domains
    can still be read; lifecycle operations fail with a clear error)."""
    if target.toolstack is not None:
        return target
    if target.sim_name is not None and target.domtable:
        # the simulated host records its personality in sim.json (its XenD socket may be
        # closed on purpose by a fault switch)
        try:  # sim.json: {"name": ..., "settings": {..., "toolstack": "xend" | "xl"}}
            with open(SimPaths(os.path.dirname(target.domtable)).settings) as f:
                kind = json.load(f)["settings"].get("toolstack", "xend")
            return dataclasses.replace(target, toolstack="libxl" if kind == "xl" else "xend")
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            pass
    if isinstance(target.xend, str) and os.path.exists(target.xend):
        return dataclasses.replace(target, toolstack="xend")
    if target.sim_name is not None:
        return dataclasses.replace(target, toolstack="libxl")
    xl = find_xl()
    if xl is not None:
        return dataclasses.replace(target, toolstack="libxl", xl_command=(xl,),
                                   config_dir=target.config_dir or DEFAULT_CONFIG_DIR)
    return dataclasses.replace(target, toolstack="none")


def make_toolstack(target: Target, max_staleness: float | None) -> Toolstack:
    """The toolstack the target names (found out first when it does not say)."""
    kind = detect_toolstack(target).toolstack
    if kind == "xend":
        from .xend_toolstack import XendToolstack
        return XendToolstack(target.xend, max_staleness=max_staleness)
    if kind == "libxl":
        from .libxl_toolstack import LibxlToolstack
        return LibxlToolstack(detect_toolstack(target))
    return NoToolstack()
