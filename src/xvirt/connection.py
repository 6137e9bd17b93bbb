"""``Connection`` and ``open()``: the public entry point, over the Xen driver of ``xvirt.driver``.

A connection owns one driver (three channels), is usable as a context manager and from several
threads, and refuses operations when read-only. ``xen+sim`` URIs start the simulated host on
demand (unless ``?autostart=0``).
"""

from __future__ import annotations

import re
import uuid as _uuid
from typing import NamedTuple

from . import __version__
from .constants import ListFlags, StatsGroups, StatsFlags, DomainState as S
from .domain import Domain
from .driver.records import Facts
from .driver.xen import XenDriver
from .errors import ErrorDomain, InvalidArgError, NoConnectError, NoDomainError, OperationDeniedError
from .protocol import sxp
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


def _parse_uuid(value) -> str:
    try:
        if isinstance(value, (bytes, bytearray)):
            if len(value) != 16:
                raise ValueError
            return str(_uuid.UUID(bytes=bytes(value)))
        return str(_uuid.UUID(hex=str(value).strip()))
    except (ValueError, TypeError):
        raise InvalidArgError(f"Invalid UUID: {value!r}") from None


def _start_sim(target: Target) -> None:
    from .sim import daemon
    if daemon.is_running(target.sim_name, target.sim_root):
        return
    if not target.autostart:
        raise NoConnectError(f"simulated host {target.sim_name!r} is not running (start it with `xvirt sim start`)")
    daemon.start(target.sim_name, root=target.sim_root)


class Connection:
    def __init__(self, uri: str | None = None, *, readonly: bool = False,
                 max_staleness: float | None = None) -> None:
        if max_staleness is not None and max_staleness < 0:
            raise InvalidArgError("max_staleness must be >= 0 seconds")
        self.target = parse_uri(uri)
        if self.target.sim_name is not None:
            _start_sim(self.target)
        self.readonly = readonly
        self._driver = XenDriver(self.target, max_staleness=max_staleness)
        self._config_format: int | None = None
        self._static: tuple[bytes | None, list] | None = None
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
        if self._config_format is None:
            try:
                self._config_format = int(sxp.child_value(self._node_static(), "xend_config_format", "1"))
            except (ValueError, TypeError):
                self._config_format = 1
        return self._config_format

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
        return facts

    def list_all_domains(self, flags: int = 0) -> list[Domain]:
        return [self._domain(x.uuid) for x in self._selected(flags, names=False)]

    def get_all_domain_stats(self, stats: int = 0, flags: int = 0) -> list[DomainStats]:
        groups = StatsGroups(stats) if stats else (StatsGroups.STATE | StatsGroups.CPU_TOTAL |
                                                   StatsGroups.BALLOON | StatsGroups.VCPU)
        list_flags = int(flags) & 0xFF  # the state/persistence filters share libvirt's bit values
        want_state, want_cpu = bool(groups & StatsGroups.STATE), bool(groups & StatsGroups.CPU_TOTAL)
        want_balloon, want_vcpu = bool(groups & StatsGroups.BALLOON), bool(groups & StatsGroups.VCPU)
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
                d["vcpu.current"], d["vcpu.maximum"] = x.vcpus, x.max_vcpus
            out.append(DomainStats(Domain(self, x.uuid), d, x.id, x.name))
        return out

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
        """The host's CPUs and memory: from the hypervisor (``physinfo``) without asking XenD,
        else from XenD's node record."""
        hv = self._driver.hv
        if hv is not None:
            p = hv.physinfo()
            if p.cpu_mhz:
                nodes, sockets, cores, threads = p.topology
                return NodeInfo("x86_64", p.total_memory_mib * 1024, p.host_cpus, p.cpu_mhz,
                                nodes, sockets, cores, threads)
        node = self._driver.node()

        def v(key: str, default: str = "0") -> int:
            try:
                return int(sxp.child_value(node, key, default))
            except ValueError:
                return 0
        return NodeInfo(sxp.child_value(node, "machine", "x86_64"), v("total_memory") * 1024, v("nr_cpus"),
                        v("cpu_mhz"), v("nr_nodes", "1"), v("sockets_per_node", "1"),
                        v("cores_per_socket", "1"), v("threads_per_core", "1"))

    def hostname(self) -> str:
        return sxp.child_value(self._node_static(), "host", "localhost")

    def _node_static(self) -> list:
        """XenD's node record, kept for this boot of the host: hostname, Xen version and config
        format do not change while it runs (a new boot of the simulated host has a new boot id)."""
        boot = self._driver.hv.boot_id() if self._driver.hv is not None else None
        if self._static is None or self._static[0] != boot:
            self._static = (boot, self._driver.node())
        return self._static[1]

    def version(self) -> int:
        node = self._node_static()
        # the release is the first number in xen_extra (".4-1" -> 4); libvirt 2006 glued every
        # digit together ("41"), later versions read the first number, as here
        m = re.search(r"\d+", sxp.child_value(node, "xen_extra", "") or "")
        digits = m.group(0) if m else ""
        try:
            major = int(sxp.child_value(node, "xen_major", "0"))
            minor = int(sxp.child_value(node, "xen_minor", "0"))
        except ValueError:
            major = minor = 0
        return major * 1_000_000 + minor * 1_000 + (int(digits[:3]) if digits else 0)

    @staticmethod
    def lib_version() -> int:
        major, minor, micro = (int(x) for x in __version__.split("."))
        return major * 1_000_000 + minor * 1_000 + micro

    # -- creation ---------------------------------------------------------------------------------
    def restore(self, path: str) -> None:
        self._check_writable("virDomainRestore")
        self._driver.dir_op("restore", "virDomainRestore", file=str(path))

    def define_xml(self, xml: str) -> Domain:
        from .domxml import domain_xml_to_sxpr
        self._check_writable("virDomainDefineXML")
        config = domain_xml_to_sxpr(xml, xend_config_format=self.xend_config_format)
        self._driver.dir_op("new", "virDomainDefineXML", config=config)
        return self._domain(self._uuid_of_config(config))

    def create_xml(self, xml: str, flags: int = 0) -> Domain:
        from .domxml import domain_xml_to_sxpr
        self._check_writable("virDomainCreateXML")
        config = domain_xml_to_sxpr(xml, xend_config_format=self.xend_config_format)
        rec = self._driver.dir_op("create", "virDomainCreateXML", config=config)
        uuid = self._uuid_of_config(config) if not isinstance(rec, list) else \
            _parse_uuid(sxp.child_value(rec, "uuid") or self._uuid_of_config(config))
        self._driver.op(uuid, "unpause", "virDomainCreateXML")  # xend creates domains paused
        return self._domain(uuid)

    def _uuid_of_config(self, config: str) -> str:
        tree = sxp.parse(config)
        raw = sxp.child_value(tree, "uuid")
        if raw:
            return _parse_uuid(raw)
        return self.lookup_by_name(sxp.child_value(tree, "name")).uuid
