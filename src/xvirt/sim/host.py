"""The simulated Xen host's model: domains, the id rover and every lifecycle operation XenD offers.

Theory of operation
-------------------
``Host`` owns every ``SimDomain`` (keyed by UUID) and is the single writer of the two cheap
channels: the xenstore tree (nodes xend writes, reference §4.2) and the hypervisor domain table.
All changes happen under one lock. Order matters for clients that combine the channels: a new
domain's xenstore nodes are written before its table record appears, and on destroy the record
turns ``dying`` before its nodes go, so a client that sees a live id in the table finds its name.

Xen semantics (reference §5): ids come from a rover over 1..0x7FEF that wraps and skips ids still
in use (dying domains included); pause and rename keep the id; reboot, restore and restart give a
new id with the same name and UUID; save renames the domain ``migrating-<name>`` while it saves and
then destroys it; shutdown is asynchronous (the guest reacts after ``guest_delay``) and then the
``on_poweroff``/``on_reboot``/``on_crash`` action applies; a destroyed domain stays in the table as
``dying`` for ``dying_delay`` (XenD forgets it at once); on the libxl layout a destroy first
pauses the domain and closes its backends, ``destroy_delay`` before the record turns dying, as
libxl does (real Xen 4.17: 0.2-0.3 s). Managed (defined) configs are persisted.

All or nothing (issue 12): every operation checks its arguments against Xen's ranges before it
changes anything, then persists (for a managed domain) before it applies, and undoes its changes
to the model when persisting fails; a launch whose xenstore nodes or table record cannot be
written is taken back. So an operation that reports an error has changed nothing: not the model,
the domain table, xenstore or the disk.
"""

from __future__ import annotations

import copy
import struct
import time
import uuid as _uuid
from contextlib import contextmanager
from dataclasses import dataclass

from ..protocol import domtable as dt
from ..protocol import sxp
from .simdomain import ConfigError, SimDomain, check_memory, check_name, normalise_uuid
from .store import ConfigStore, PathRefused, SaveArea
from .scheduler import Scheduler
from .eventlog import EventLog, TimedRLock

__all__ = ["Host", "HostSettings", "XendOpError", "DOMID_MAX"]

DOMID_MAX = 0x7FEF
REASONS = {"poweroff": 0, "halt": 0, "reboot": 1, "suspend": 2, "crash": 3}
# what an operation may change on a domain, restored when it cannot be completed
_UNDO_FIELDS = ("name", "memory", "maxmem", "vcpus", "vcpu_avail", "managed", "hvm",
                "on_poweroff", "on_reboot", "on_crash")


def parse_cpulist(text: str, host_cpus: int) -> list[int]:
    """Physical CPUs of ``"[0, 1]"``, ``"0,1"``, ``"0-3,^2"``-free ranges or ``"all"``; XendOpError
    for a CPU the host does not have or an empty set."""
    t = str(text).strip().strip("[]").replace(" ", "")
    if t == "all":
        return list(range(host_cpus))
    cpus: set[int] = set()
    try:
        for part in filter(None, t.split(",")):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise XendOpError(f"Invalid cpumap: {text}") from None
    if not cpus or min(cpus) < 0 or max(cpus) >= host_cpus:
        raise XendOpError(f"Invalid cpumap: {text} (the host has CPUs 0..{host_cpus - 1})")
    return sorted(cpus)


class XendOpError(Exception):
    """A failure XenD reports as ``(xend.err '<message>')``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


BACKEND_KINDS = ("vbd", "tap", "vif", "console")   # dom0's backend directories a domain may have


@dataclass
class HostSettings:
    name: str = "default"
    host_cpus: int = 8
    total_memory: int = 65536      # MiB
    cpu_mhz: int = 2400
    first_domid: int = 1
    max_domid: int = DOMID_MAX     # a smaller id space makes the rover wrap and reuse ids (tests)
    guest_delay: float = 0.05      # seconds a guest takes to react to control/shutdown
    dying_delay: float = 0.02      # seconds a destroyed domain stays dying in the table
    save_delay: float = 0.01       # seconds a save takes (the domain is migrating-<name> meanwhile)
    destroy_delay: float = 0.1     # libxl layout: seconds between the destroy's pause and the death

    def topology(self) -> tuple[int, int, int, int]:
        """(nodes, sockets per node, cores per socket, threads per core) for ``host_cpus``."""
        threads = 2 if self.host_cpus % 2 == 0 and self.host_cpus > 1 else 1
        return 1, 1, self.host_cpus // threads, threads


class Host:
    def __init__(self, settings: HostSettings, *, tree, table, store: ConfigStore,
                 save_area: SaveArea, log=None, layout: str = "xend", devstats=None) -> None:
        self.settings = settings
        self.devstats = devstats  # sim/devstats.DevStatsWriter: per-domain device counters
        self.layout = layout    # "xend" or "libxl": whose xenstore nodes and save semantics
        self.tree = tree
        self.table = table
        self.store = store
        self.saves = save_area
        self.lock = TimedRLock()
        self.events = EventLog()  # every change of a domain's id, name or state, timed
        self.log = log or (lambda msg: None)
        self._by_uuid: dict[str, SimDomain] = {}
        self._by_domid: dict[int, SimDomain] = {}
        self._ghosts: set[int] = set()          # ids of dying domains (still in the table)
        # name -> the domain that last took that name. Every name a domain in _by_uuid holds is
        # a key (entries may be stale; _name_owner checks), so a miss needs no scan.
        self._names: dict[str, SimDomain] = {}
        self._rover = max(0, min(settings.first_domid, settings.max_domid + 1) - 1)
        self.scheduler = Scheduler(on_error=lambda e: self.log(f"event failed: {e!r}"))
        self.boot_errors: list[str] = []
        self._make_dom0()

    # -- set-up -------------------------------------------------------------------------------
    def _make_dom0(self) -> None:
        s = self.settings
        cfg = ["domain", ["name", "Domain-0"], ["uuid", "00000000-0000-0000-0000-000000000000"],
               ["memory", "2048"], ["maxmem", "2048"], ["vcpus", str(s.host_cpus)],
               ["on_poweroff", "destroy"], ["on_reboot", "restart"], ["on_crash", "restart"]]
        dom0 = SimDomain.from_config(cfg, managed=False)
        dom0.activity = 150
        dom0.blocked = False
        with self.lock:
            self._add(dom0)
            self._launch(dom0, domid=0)
            if self.layout == "libxl":  # what xenstored and libxl's cpupool code write at boot
                with self.tree.batch():
                    self.tree.write("/tool/xenstored", b"")
                    self.tree.write("/local/pool/0/name", b"Pool-0")

    def load_managed(self) -> int:
        configs, bad = self.store.load_all()
        self.boot_errors += [f"unreadable managed config {name}" for name in bad]
        with self.lock:
            for cfg in configs:
                try:
                    dom = SimDomain.from_config(cfg, managed=True)
                except ConfigError as e:
                    self.boot_errors.append(f"invalid managed config: {e}")
                    continue
                if dom.uuid in self._by_uuid or self._name_owner(dom.name):
                    self.boot_errors.append(f"duplicate managed domain {dom.name} {dom.uuid}")
                    continue
                self._add(dom)
        return len(configs)

    def close(self) -> None:
        self.scheduler.stop()

    # -- internal helpers (call with the lock held) -------------------------------------------
    def _add(self, dom: SimDomain) -> None:
        self._by_uuid[dom.uuid] = dom
        self._names[dom.name] = dom
        self._note(dom)

    def _note(self, dom: SimDomain) -> None:
        """Log ``dom``'s observable facts now (a no-op when nothing of them changed)."""
        live = dom.running and not dom.dying
        self.events.note({"uuid": dom.uuid, "present": self._by_uuid.get(dom.uuid) is dom,
                          "domid": dom.domid if live else None, "name": dom.name,
                          "flags": dom.flags() if live else 0, "memory_kib": dom.memory * 1024,
                          "maxmem_kib": dom.maxmem * 1024, "vcpus": bin(dom.vcpu_avail).count("1"),
                          "max_vcpus": dom.vcpus, "managed": dom.managed}, self.lock.since)

    def _name_owner(self, name: str) -> SimDomain | None:
        d = self._names.get(name)
        if d is None:
            return None
        if d.name == name and self._by_uuid.get(d.uuid) is d:
            return d
        for d in self._by_uuid.values():  # stale entry: the domain was renamed or removed
            if d.name == name:
                self._names[name] = d
                return d
        del self._names[name]
        return None

    def _check_name_free(self, name: str, uuid: str) -> None:
        owner = self._name_owner(name)
        if owner is not None and owner.uuid != uuid:
            where = f"domain {owner.domid}" if owner.running else "an inactive domain"
            raise XendOpError(f"VM name '{name}' already in use by {where}")

    def _allocate_domid(self) -> int:
        live, ghosts = self._by_domid, self._ghosts
        top = self.settings.max_domid
        for _ in range(top + 1):
            self._rover = self._rover + 1 if self._rover < top else 1
            if self._rover not in live and self._rover not in ghosts:
                return self._rover
        raise XendOpError("Error creating domain: out of domain ids (ENOMEM)")

    def _publish(self, dom: SimDomain) -> None:
        self.table.upsert(dom.domid, **dom.table_fields())
        if self.devstats is not None:
            self.devstats.publish(dom)
        self._note(dom)

    @staticmethod
    def _check_record(dom: SimDomain, domid: int | None = None) -> None:
        """XendOpError unless the domain's table record can be written (fields in range)."""
        try:
            dt.pack_record(domid=dom.domid if domid is None else domid, **dom.table_fields())
        except (struct.error, OverflowError) as e:
            raise XendOpError(f"Invalid domain state: {e}") from None

    @contextmanager
    def _tentative(self, dom: SimDomain):
        """Changes made to ``dom`` inside are checked and persisted on leaving, or undone.

        Call with the lock held; publish to xenstore and the table only after the block."""
        saved = {k: getattr(dom, k) for k in _UNDO_FIELDS}
        config = copy.deepcopy(dom.config)
        try:
            yield
            if dom.running:
                self._check_record(dom)
            self._persist(dom)
        except BaseException as e:
            for k, v in saved.items():
                setattr(dom, k, v)
            dom.config = config
            if isinstance(e, OSError):
                raise XendOpError(f"Error saving the configuration: {e.strerror or e}") from None
            raise

    def _launch(self, dom: SimDomain, *, domid: int | None = None, paused: bool = False) -> None:
        """Give ``dom`` an id and bring it up: xenstore nodes first, then the table record.

        When no id is free, a transient domain is forgotten (it has nothing left to exist as),
        a managed one stays defined and inactive, and XenD reports the failure.
        """
        try:
            new_id = self._allocate_domid() if domid is None else domid
        except XendOpError:
            dom.domid = None
            if not dom.managed and self._by_uuid.get(dom.uuid) is dom:
                del self._by_uuid[dom.uuid]
            self._note(dom)
            raise
        dom.domid = new_id
        dom.paused, dom.dying, dom.saving, dom.shutdown_code = paused, False, False, None
        dom.cpu_ns, dom.cpu_stamp = 0, time.monotonic_ns()
        dom.io_ns, dom.io_stamp, dom.io_active = 0, 0, False
        dom.io_since.clear()
        dom.start_time = time.time()
        try:
            self._check_record(dom)
            nodes = [(path, value.encode()) for path, value in dom.xenstore_nodes(self.layout)]
            with self.tree.batch():
                for path, value in nodes:
                    self.tree.write(path, value)
        except Exception as e:  # noqa: BLE001 - take the half-made instance back, report it
            self._remove_nodes(dom.uuid, new_id)
            dom.domid = None
            if not dom.managed and self._by_uuid.get(dom.uuid) is dom:
                del self._by_uuid[dom.uuid]
            msg = e.message if isinstance(e, XendOpError) else str(e)
            raise XendOpError(f"Error creating domain: {msg}") from None
        self._by_domid[dom.domid] = dom
        self.tree.fire_special("@introduceDomain")
        self._publish(dom)

    def _remove_nodes(self, uuid: str, domid: int) -> None:
        with self.tree.batch():
            for path in (f"/local/domain/{domid}", f"/vm/{uuid}"):
                if self.tree.exists(path):
                    self.tree.rm(path)
            for path in (f"/libxl/{domid}", *(f"/local/domain/0/backend/{kind}/{domid}" for kind in BACKEND_KINDS)):
                if self.tree.exists(path):
                    self.tree.rm(path)

    def _teardown(self, dom: SimDomain, *, dying: bool = True) -> None:
        """Take a running instance down: the record turns dying, nodes go, then the record."""
        domid = dom.domid
        if domid is None:
            return
        dom.fold_cpu()
        dom.dying = True
        self._publish(dom)
        del self._by_domid[domid]
        self._remove_nodes(dom.uuid, domid)
        self.tree.fire_special("@releaseDomain")
        dom.domid, dom.dying, dom.paused, dom.shutdown_code = None, False, False, None
        if dying and self.settings.dying_delay > 0:
            self._ghosts.add(domid)
            self.scheduler.call_later(self.settings.dying_delay, lambda: self._free_ghost(domid))
        else:
            self._unpublish(domid)
        if not dom.managed:
            self._by_uuid.pop(dom.uuid, None)
        self._note(dom)

    def _free_ghost(self, domid: int) -> None:
        with self.lock:
            if domid in self._ghosts and domid not in self._by_domid:
                self._ghosts.discard(domid)
                self._unpublish(domid)

    def _unpublish(self, domid: int) -> None:
        self.table.remove(domid)
        if self.devstats is not None:
            self.devstats.remove(domid)

    def _running(self, dom: SimDomain) -> SimDomain:
        if not dom.running or dom.dying:
            raise XendOpError("Domain is not running")
        return dom

    def _persist(self, dom: SimDomain) -> None:
        if dom.managed:
            dom.sync_config()
            self.store.save(dom.uuid, dom.config)
        self._note(dom)

    def _new_domain(self, config: list, *, managed: bool) -> SimDomain:
        try:
            return SimDomain.from_config(config, managed=managed)
        except ConfigError as e:
            raise XendOpError(str(e)) from None

    # -- read side ----------------------------------------------------------------------------
    def node_sxpr(self) -> list:
        s = self.settings
        with self.lock:
            used = sum(d.memory for d in self._by_domid.values())
        _, _, cores, threads = s.topology()
        return ["node", ["system", "Linux"], ["host", f"xensim-{s.name}"], ["release", "2.6.18-xen"],
                ["version", "#1 SMP Tue Dec 19 2006"], ["machine", "x86_64"],
                ["nr_cpus", str(s.host_cpus)], ["nr_nodes", "1"], ["sockets_per_node", "1"],
                ["cores_per_socket", str(cores)], ["threads_per_core", str(threads)],
                ["cpu_mhz", str(s.cpu_mhz)], ["hw_caps", "bfebfbff:20100800:00000000:00000140:0000e3bd"],
                ["total_memory", str(s.total_memory)], ["free_memory", str(max(0, s.total_memory - used))],
                ["xen_major", "3"], ["xen_minor", "0"], ["xen_extra", ".4-1"],
                ["xen_caps", "xen-3.0-x86_64 xen-3.0-x86_32p hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"],
                ["xen_pagesize", "4096"], ["platform_params", "virt_start=0xffff800000000000"],
                ["xen_changeset", "unavailable"], ["cc_compiler", "gcc version 4.1.2"],
                ["cc_compile_by", "xvirt"], ["cc_compile_domain", "simulated"],
                ["cc_compile_date", "Tue Dec 19 2006"], ["xend_config_format", "3"]]

    def _matches(self, dom: SimDomain, state: str) -> bool:
        ps = dom.power_state()
        return {"all": True, "active": dom.running, "running": ps == 2, "paused": ps == 1, "halted": ps == 0,
                "suspended": ps == 3, "shuttingdown": ps == 4, "unknown": False}.get(state, False)

    def domain_names(self, state: str = "running") -> list[str]:
        with self.lock:
            return sorted(d.name for d in self._by_uuid.values() if self._matches(d, state))

    def domain_records(self, state: str = "active") -> list[list]:
        """Records for ``?detail=1``: by default every domain that has an id (paused included:
        libvirt's ``virsh list`` over XenD showed paused domains), ascending by id."""
        with self.lock:
            doms = [d for d in self._by_uuid.values() if self._matches(d, state)]
            doms.sort(key=lambda d: (d.domid is None, d.domid or 0, d.name))
            return [d.sxpr() for d in doms]

    def lookup(self, ref: str) -> SimDomain | None:
        """Xen 3.0.4 ``domain_lookup``: name (running, then managed), domid, UUID."""
        with self.lock:
            named = [d for d in self._by_uuid.values() if d.name == ref]
            named.sort(key=lambda d: not d.running)
            if named:
                return named[0]
            if ref.isdigit():
                dom = self._by_domid.get(int(ref))
                if dom is not None:
                    return dom
            try:
                return self._by_uuid.get(normalise_uuid(ref))
            except ConfigError:
                return None

    def domain_sxpr(self, dom: SimDomain) -> list:
        with self.lock:
            return dom.sxpr()

    def vcpuinfo_sxpr(self, dom: SimDomain) -> list:
        with self.lock:
            self._running(dom)
            return dom.vcpuinfo(self.settings.host_cpus)

    # -- domain directory ops -----------------------------------------------------------------
    def op_create(self, config: list) -> SimDomain:
        new = self._new_domain(config, managed=False)
        with self.lock:
            existing = self._by_uuid.get(new.uuid)
            if existing is not None:
                if existing.running:
                    raise XendOpError(f"Error creating domain: VM name '{existing.name}' already in use by domain {existing.domid}"
                                      if existing.name == new.name else
                                      f"Error creating domain: domain with UUID {new.uuid} already running as '{existing.name}'")
                if existing.name != new.name:
                    raise XendOpError(f"Error creating domain: UUID {new.uuid} belongs to domain '{existing.name}'")
                dom = existing  # run the defined domain with this config, as xend's create did
                saved = {k: getattr(dom, k) for k in ("memory", "maxmem", "vcpus", "vcpu_avail", "hvm")}
                for k in saved:
                    setattr(dom, k, getattr(new, k))
                try:
                    self._launch(dom, paused=True)
                except XendOpError:
                    for k, v in saved.items():
                        setattr(dom, k, v)
                    raise
            else:
                self._check_name_free(new.name, new.uuid)
                dom = new
                self._add(dom)
                self._launch(dom, paused=True)
            self.log(f"create {dom.name} id {dom.domid}")
            return dom

    def op_new(self, config: list) -> SimDomain:
        new = self._new_domain(config, managed=True)
        with self.lock:
            self._check_name_free(new.name, new.uuid)
            dom = self._by_uuid.get(new.uuid)
            if dom is None:
                try:
                    self._persist(new)  # on disk first: a define that fails defines nothing
                except OSError as e:
                    raise XendOpError(f"Error saving the configuration: {e.strerror or e}") from None
                dom = new
                self._add(dom)
            else:
                with self._tentative(dom):
                    dom.config, dom.managed = new.config, True
                    if not dom.running:
                        for k in ("name", "memory", "maxmem", "vcpus", "vcpu_avail", "hvm",
                                  "on_poweroff", "on_reboot", "on_crash"):
                            setattr(dom, k, getattr(new, k))
                self._names[dom.name] = dom
            return dom

    def op_restore(self, file: str) -> SimDomain:
        try:
            config = self.saves.read_image(file)
        except (PathRefused, ValueError) as e:
            raise XendOpError(f"Restore failed: {e}") from None
        except Exception as e:  # noqa: BLE001 - a malformed image is the client's problem
            raise XendOpError(f"Restore failed: {e}") from None
        new = self._new_domain(config, managed=False)
        with self.lock:
            dom = self._by_uuid.get(new.uuid)
            if dom is not None and dom.running:
                raise XendOpError(f"Restore failed: domain with UUID {new.uuid} is already running as '{dom.name}'")
            self._check_name_free(new.name, new.uuid)
            old_name = None
            if dom is None:
                dom = new
            else:
                old_name, dom.name = dom.name, new.name
            self._add(dom)
            try:
                self._launch(dom, paused=False)
            except XendOpError:
                if old_name is not None:
                    dom.name = old_name
                    self._names[old_name] = dom
                raise
            self.log(f"restore {dom.name} id {dom.domid}")
            return dom

    # -- managed domain ops -------------------------------------------------------------------
    def op_start(self, dom: SimDomain, paused: bool = False) -> None:
        with self.lock:
            if dom.running:
                raise XendOpError("Domain is already running")
            if not dom.managed or self._by_uuid.get(dom.uuid) is not dom:
                raise XendOpError("Domain is not managed")
            self._launch(dom, paused=paused)

    def op_delete(self, dom: SimDomain) -> None:
        with self.lock:
            if dom.running:
                raise XendOpError("Domain is not halted.")
            if not dom.managed:
                raise XendOpError("Domain is not managed")
            try:
                self.store.delete(dom.uuid)
            except OSError as e:
                raise XendOpError(f"Error removing the configuration: {e.strerror or e}") from None
            self._by_uuid.pop(dom.uuid, None)
            self._note(dom)

    # -- running domain ops -------------------------------------------------------------------
    def op_pause(self, dom: SimDomain) -> None:
        with self.lock:
            self._running(dom)
            if dom.is_dom0:
                raise XendOpError("Cannot pause privileged domain 0")
            dom.fold_cpu()
            dom.paused = True
            self._publish(dom)

    def op_unpause(self, dom: SimDomain) -> None:
        with self.lock:
            self._running(dom)
            dom.fold_cpu()
            dom.paused = False
            self._publish(dom)

    def op_destroy(self, dom: SimDomain) -> None:
        with self.lock:
            self._running(dom)
            if dom.is_dom0:
                raise XendOpError("Cannot destroy privileged domain 0")
            if self.layout != "libxl" or self.settings.destroy_delay <= 0:
                self._teardown(dom)
                return
            # libxl__destroy_domid (tools/libs/light/libxl_domain.c): xc_domain_pause, then the
            # backends are told to close (online=0, state=5 Closing: libxl__devices_destroy with
            # force), then the nodes go and xc_domain_destroy; the domain is paused meanwhile
            domid = dom.domid
            dom.fold_cpu()
            dom.paused = True
            self._publish(dom)
            with self.tree.batch():
                for kind in BACKEND_KINDS:
                    base = f"/local/domain/0/backend/{kind}/{domid}"
                    for dev in (self.tree.directory(base) if self.tree.exists(base) else []):
                        self.tree.write(f"{base}/{dev}/online", b"0")
                        self.tree.write(f"{base}/{dev}/state", b"5")
        time.sleep(self.settings.destroy_delay)
        with self.lock:
            if dom.domid == domid and dom.running and not dom.dying:
                self._teardown(dom)

    def op_shutdown(self, dom: SimDomain, reason: str) -> None:
        if reason not in REASONS:
            raise XendOpError(f"Invalid reason: {reason}")
        with self.lock:
            self._running(dom)
            if dom.is_dom0:
                raise XendOpError("Cannot shutdown privileged domain 0")
            self.tree.write(f"/local/domain/{dom.domid}/control/shutdown", reason.encode())
            domid = dom.domid
        self.scheduler.call_later(self.settings.guest_delay,
                                  lambda: self.guest_shutdown(dom, REASONS[reason], expect_domid=domid))

    def guest_shutdown(self, dom: SimDomain, code: int, *, expect_domid: int | None = None) -> bool:
        """The guest shuts itself down with ``code`` (0 poweroff, 1 reboot, 2 suspend, 3 crash)."""
        with self.lock:
            if not dom.running or dom.dying or dom.is_dom0 or dom.shutdown_code is not None:
                return False
            if expect_domid is not None and dom.domid != expect_domid:
                return False
            dom.fold_cpu()
            dom.shutdown_code = code
            self._publish(dom)
            self.tree.fire_special("@releaseDomain")  # xenstored notices the shutdown
            action = {0: dom.on_poweroff, 1: dom.on_reboot, 3: dom.on_crash}.get(code, "preserve")
            self.log(f"guest {dom.name} id {dom.domid} shut down code {code}: {action}")
            if action == "destroy":
                self._teardown(dom)
            elif action == "restart":
                self._restart(dom)
            elif action == "rename-restart":
                self._rename_restart(dom)
            return True

    def _restart(self, dom: SimDomain) -> None:
        self._teardown(dom)
        self._add(dom)
        try:
            self._launch(dom)
        except XendOpError as e:  # xend logs a failed restart; the domain stays down
            self.log(f"restart of {dom.name} failed: {e.message}")

    def _rename_restart(self, dom: SimDomain) -> None:
        n = 1
        while self._name_owner(f"{dom.name}-{n}"):
            n += 1
        keep = SimDomain.from_config(sxp.parse(sxp.show(dom.config)), managed=False)
        keep.name, keep.uuid = f"{dom.name}-{n}", str(_uuid.uuid4())
        keep.sync_config()
        old_id = dom.domid
        # the crashed instance keeps its id under the new identity; the original restarts
        with self.tree.batch():
            self.tree.write(f"/local/domain/{old_id}/name", keep.name.encode())
            self.tree.write(f"/local/domain/{old_id}/vm", f"/vm/{keep.uuid}".encode())
        keep.domid, keep.shutdown_code, keep.cpu_ns, keep.cpu_stamp = old_id, dom.shutdown_code, dom.cpu_ns, dom.cpu_stamp
        keep.start_time = dom.start_time
        self._add(keep)
        self._by_domid[old_id] = keep
        self._publish(keep)
        dom.domid = None
        if not dom.managed:
            self._add(dom)
        try:
            self._launch(dom)
        except XendOpError as e:
            self.log(f"restart of {dom.name} failed: {e.message}")

    def op_rename(self, dom: SimDomain, name: str) -> None:
        try:
            check_name(name or "")
        except ConfigError as e:
            raise XendOpError(str(e)) from None
        with self.lock:
            if dom.is_dom0:
                raise XendOpError("Cannot rename privileged domain 0")
            self._check_name_free(name, dom.uuid)
            with self._tentative(dom):
                dom.name = name
            self._set_name(dom, name)

    def _set_name(self, dom: SimDomain, name: str) -> None:
        dom.name = name
        self._names[name] = dom
        if dom.running:
            with self.tree.batch():
                self.tree.write(f"/local/domain/{dom.domid}/name", name.encode())
                self.tree.write(f"/vm/{dom.uuid}/name", name.encode())
        self._note(dom)

    @staticmethod
    def _memory_arg(mib: int, what: str) -> None:
        try:
            check_memory(mib, what)
        except ConfigError as e:
            raise XendOpError(str(e)) from None

    def op_mem_target_set(self, dom: SimDomain, target: int) -> None:
        self._memory_arg(target, "target")
        with self.lock:
            if target > dom.maxmem:
                raise XendOpError(f"Memory target {target} MiB exceeds maximum memory {dom.maxmem} MiB")
            with self._tentative(dom):
                dom.memory = target
            if dom.running:
                self.tree.write(f"/local/domain/{dom.domid}/memory/target", str(target * 1024).encode())
                self._publish(dom)

    def op_maxmem_set(self, dom: SimDomain, memory: int) -> None:
        self._memory_arg(memory, "maxmem")
        with self.lock:
            with self._tentative(dom):
                dom.maxmem = memory
                if dom.memory > memory:
                    dom.memory = memory
            if dom.running:
                self._publish(dom)

    def op_set_vcpus(self, dom: SimDomain, vcpus: int) -> None:
        with self.lock:
            if vcpus < 1:
                raise XendOpError("Invalid VCPU count")
            if dom.running:
                if vcpus > dom.vcpus:
                    raise XendOpError("Cannot set vcpus greater than max vcpus on running domain")
                dom.fold_cpu()
                with self._tentative(dom):
                    dom.vcpu_avail = (1 << vcpus) - 1
                with self.tree.batch():
                    for i in range(dom.vcpus):
                        self.tree.write(f"/local/domain/{dom.domid}/cpu/{i}/availability",
                                        b"online" if i < vcpus else b"offline")
                self._publish(dom)
            else:
                if vcpus > 128:
                    raise XendOpError("Invalid VCPU count")
                with self._tentative(dom):
                    dom.vcpus, dom.vcpu_avail = vcpus, (1 << vcpus) - 1

    def op_pincpu(self, dom: SimDomain, vcpu: str, cpumap: str) -> None:
        """XenD's ``domain_pincpu`` (``xc.vcpu_setaffinity`` per vCPU): ``cpumap`` as xend takes
        it, ``"[0, 1]"`` or ``"0,1"``, or xl's ``"0-3,6"`` / ``"all"``; published to the stats file."""
        with self.lock:
            self._running(dom)
            if vcpu != "all":
                try:
                    n = int(vcpu)
                except ValueError:
                    raise XendOpError(f"invalid literal for int(): {vcpu}") from None
                if not 0 <= n < dom.vcpus:
                    raise XendOpError(f"Invalid VCPU {n}")
            cpus = parse_cpulist(cpumap, self.settings.host_cpus)
            for v in range(dom.vcpus) if vcpu == "all" else [int(vcpu)]:
                if len(cpus) == self.settings.host_cpus:
                    dom.affinity.pop(v, None)
                else:
                    dom.affinity[v] = cpus
            self._publish(dom)

    # -- devices (XenD's device_create / device_destroy; xl block-/network-attach/-detach) --------
    def op_device_create(self, dom: SimDomain, config) -> None:
        """Add a vbd or vif to the domain's config and, when it runs, plug it (xenstore nodes,
        counters from zero)."""
        try:
            spec = sxp.parse(config) if isinstance(config, str) else config
        except Exception as e:  # noqa: BLE001 - a malformed config is the client's problem
            raise XendOpError(f"Invalid device configuration: {e}") from None
        if not isinstance(spec, list) or not spec or spec[0] not in ("vbd", "tap", "vif"):
            raise XendOpError("Invalid device configuration: only vbd, tap and vif can be attached")
        spec = [x for x in spec if not (isinstance(x, list) and x[:1] == ["devid"])]
        with self.lock:
            if dom.dying:
                raise XendOpError("Domain is not running")
            kind = "vbd" if spec[0] == "tap" else spec[0]
            with self._tentative(dom):
                dom.pin_devids()
                existing = dom.devices()
                if kind == "vbd":
                    name = (sxp.child_value(spec, "dev") or "").split(":")[0]
                    if not name or not sxp.child_value(spec, "uname"):
                        raise XendOpError("Invalid device configuration: a vbd needs dev and uname")
                    if any(k in ("vbd", "tap") and (sxp.child_value(sp, "dev") or "").split(":")[0] == name
                           for k, _d, sp in existing):
                        raise XendOpError(f"Device {name} is already connected.")
                    taken = {d for k, d, _sp in existing if k in ("vbd", "tap")}
                    devid = next(51712 + 16 * i for i in range(4096) if 51712 + 16 * i not in taken)
                else:
                    mac = sxp.child_value(spec, "mac")
                    if mac and any(k == "vif" and (sxp.child_value(sp, "mac") or "").lower() == mac.lower()
                                   for k, _d, sp in existing):
                        raise XendOpError(f"Device with MAC {mac} is already connected.")
                    devid = max([d for k, d, _sp in existing if k == "vif"], default=-1) + 1
                spec.append(["devid", str(devid)])
                dom.config.append(["device", spec])
            if dom.running:
                dom.io_since[(kind, devid)] = dom.io_ns + (max(0, time.monotonic_ns() - dom.io_stamp)
                                                           if dom.io_active and dom.io_stamp else 0)
                with self.tree.batch():
                    for path, value in dom.device_nodes(spec[0], devid, spec):
                        self.tree.write(path, value.encode())
                self._publish(dom)

    def op_device_destroy(self, dom: SimDomain, type: str, dev: str) -> None:  # noqa: A002 - xend's name
        """Remove the device of class ``type`` named by ``dev``: its devid, its ``dev`` name (vbd)
        or MAC (vif), as xend's destroyDevice looks it up."""
        with self.lock:
            with self._tentative(dom):
                dom.pin_devids()
                found = None
                for kind, devid, spec in dom.devices():
                    if (kind if kind != "tap" else "vbd") != (type if type != "tap" else "vbd"):
                        continue
                    names = {str(devid), (sxp.child_value(spec, "dev") or "").split(":")[0],
                             (sxp.child_value(spec, "mac") or "").lower()}
                    if str(dev).lower() in names - {""}:
                        found = (kind, devid, spec)
                        break
                if found is None:
                    raise XendOpError(f"Device {dev} not connected")
                dom.config = [c for c in dom.config if not (isinstance(c, list) and c[:1] == ["device"]
                                                             and len(c) > 1 and c[1] is found[2])]
            if dom.running:
                kind, devid, _spec = found
                with self.tree.batch():
                    for path in (f"/local/domain/{dom.domid}/device/{kind}/{devid}",
                                 f"/local/domain/0/backend/{kind}/{dom.domid}/{devid}"):
                        if self.tree.exists(path):
                            self.tree.rm(path)
                dom.io_since.pop((kind, devid), None)
                self._publish(dom)

    def op_domain_sched_credit_get(self, dom: SimDomain) -> list:
        """XenD's ``domain_sched_credit_get`` (``xc.sched_credit_domain_get``): weight and cap."""
        with self.lock:
            self._running(dom)
            return ["sched_credit", ["weight", str(dom.sched_weight)], ["cap", str(dom.sched_cap)]]

    def op_domain_sched_credit_set(self, dom: SimDomain, weight: int | None = None, cap: int | None = None) -> None:
        """XenD's ``domain_sched_credit_set``: Xen's credit scheduler takes weight 1..65535 and
        cap 0 (none) .. 100 per host CPU (xen/common/sched/credit.c)."""
        with self.lock:
            self._running(dom)
            if weight is not None and weight >= 0 and not 1 <= weight <= 65535:
                raise XendOpError(f"Invalid weight {weight}: must be 1..65535")
            if cap is not None and cap >= 0 and cap > 100 * self.settings.host_cpus:
                raise XendOpError(f"Invalid cap {cap}: must be 0..{100 * self.settings.host_cpus}")
            if weight is not None and weight >= 0:
                dom.sched_weight = weight
            if cap is not None and cap >= 0:
                dom.sched_cap = cap
            self._publish(dom)

    def op_sysrq(self, dom: SimDomain, key: int) -> None:
        with self.lock:
            self._running(dom)
            self.tree.write(f"/local/domain/{dom.domid}/control/sysrq", chr(key % 256).encode())

    def op_wait_for_devices(self, dom: SimDomain) -> None:
        with self.lock:
            self._running(dom)

    def op_save(self, dom: SimDomain, file: str) -> None:
        with self.lock:
            self._running(dom)
            if dom.is_dom0:
                raise XendOpError("Cannot save privileged domain 0")
            if dom.saving:
                raise XendOpError("Domain is already being saved")
            try:
                self.saves.resolve(file)
            except PathRefused as e:
                raise XendOpError(str(e)) from None
            name, domid = dom.name, dom.domid
            dom.saving = True
            if self.layout == "xend":  # xend renames first (XendCheckpoint.save); libxl does not
                self._set_name(dom, f"migrating-{name}")
            dom.fold_cpu()
            dom.paused = True
            self._publish(dom)
        time.sleep(self.settings.save_delay)
        with self.lock:
            if dom.domid != domid:
                # destroyed or restarted meanwhile: give the name back unless it was taken
                dom.saving = False
                if dom.name == f"migrating-{name}" and self._name_owner(name) in (None, dom):
                    self._set_name(dom, name)
                raise XendOpError("Save failed: domain went away while saving")
            dom.name = name
            self._names[name] = dom
            try:
                dom.sync_config()
                self.saves.write_image(file, dom.config, dom.memory)
            except Exception as e:  # noqa: BLE001 - the domain runs on as before, whatever failed
                dom.saving, dom.paused = False, False
                self._set_name(dom, name)
                self._publish(dom)
                raise XendOpError(f"Save failed: {getattr(e, 'strerror', None) or e}") from None
            # the guest suspended itself (SHUTDOWN_suspend, xen/include/public/sched.h) and the
            # hypervisor shows it shut down with that reason until xend destroys it
            dom.shutdown_code = 2
            self._teardown(dom)
            self.log(f"saved {name} from id {domid}")

    def op_migrate(self, dom: SimDomain, destination: str, port: int = 0, live: int = 0,
                   resource: int = 0) -> None:
        """XenD's ``domain_migrate``: the domain is paused, its image streamed to the target's
        relocation service (``sim/relocation.py``), which restores it under the same UUID with
        an id of its own; then it is gone here (a managed domain stays defined, as in XenD)."""
        from .relocation import check_destination, send_image
        with self.lock:
            self._running(dom)
            if dom.is_dom0:
                raise XendOpError("Cannot migrate privileged domain 0")
            if dom.saving:
                raise XendOpError("Domain is already being saved")
            try:
                check_destination(destination)
            except (ValueError, OSError) as e:
                raise XendOpError(f"Migration failed: {e}") from None
            dom.saving = True
            domid, was_paused = dom.domid, dom.paused
            dom.fold_cpu()
            dom.paused = True
            self._publish(dom)
            dom.sync_config()
            image = SaveArea.image_bytes(copy.deepcopy(dom.config), dom.memory)
        try:
            send_image(destination, image)
        except Exception as e:  # noqa: BLE001 - the domain runs on here, whatever failed
            with self.lock:
                if dom.domid == domid:
                    dom.saving = False
                    dom.fold_cpu()
                    dom.paused = was_paused
                    self._publish(dom)
            raise XendOpError(f"Migration failed: {getattr(e, 'strerror', None) or e}") from None
        with self.lock:
            dom.saving = False
            if dom.domid == domid:
                dom.shutdown_code = 2   # suspended for migration, then destroyed here
                self._teardown(dom)
            self.log(f"migrated {dom.name} from id {domid} to {destination}")

    def op_dump(self, dom: SimDomain, file: str, live: int = 0, crash: int = 0) -> None:
        with self.lock:
            self._running(dom)
            try:
                self.saves.write_dump(file, dom.domid, dom.memory)
            except PathRefused as e:
                raise XendOpError(str(e)) from None
            except OSError as e:
                raise XendOpError(f"Dump failed: {e.strerror}") from None
            if crash and not dom.is_dom0:
                self.guest_shutdown(dom, 3)

    # -- for the control interface ------------------------------------------------------------
    def truth(self) -> dict:
        """What the host holds right now: running domains by id and inactive managed ones."""
        with self.lock:
            running = [{"domid": d.domid, "uuid": d.uuid, "name": d.name, "state": d.state_string(),
                        "flags": d.flags(), "memory_kib": d.memory * 1024, "maxmem_kib": d.maxmem * 1024,
                        "vcpus": bin(d.vcpu_avail).count("1"), "max_vcpus": d.vcpus,
                        "managed": d.managed, "cpu_ns": d.cpu_now()}
                       for d in sorted(self._by_domid.values(), key=lambda d: d.domid)]
            inactive = [{"uuid": d.uuid, "name": d.name, "memory_kib": d.memory * 1024,
                         "maxmem_kib": d.maxmem * 1024, "vcpus": d.vcpus}
                        for d in sorted(self._by_uuid.values(), key=lambda d: d.name) if not d.running]
            return {"running": running, "inactive": inactive, "dying": sorted(self._ghosts),
                    "rover": self._rover, "pending": self.scheduler.pending(),
                    "hostname": f"xensim-{self.settings.name}", "host_cpus": self.settings.host_cpus}
