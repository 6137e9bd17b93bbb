"""The libxl toolstack through the ``xl`` command, with defined domains kept by xvirt as libvirt's libxl driver keeps them.

Why ``xl`` and not libxl through ctypes: libxl's C API takes large versioned structs
(``libxl_domain_config`` and friends change with every Xen release) and wants its own event loop
and child-process handling inside the caller; ``xl`` is the interface admins and scripts use, with
stable text output and exit codes. Each call is one ``xl`` process, counted per subcommand
(``counts()["xl"]["create"]``); running domains are read from the hypervisor and xenstore, so
list/lookup/info/state/name make no ``xl`` call at all.

``xl`` addresses domains by id or name, never by UUID: an operation finds the domain's id now on
the hypervisor channel (one record read) and passes the id. Inactive domains live in a
``ConfigDir`` (domain XML per UUID); ``start`` converts the XML to an xl.cfg
(``xvirt.domxml.xml_to_native(xml, "xen-xl")``) and runs ``xl create``. xl's failures become
libvirt errors in ``records.map_xl_error``.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile

from ..constants import DomainState as S
from ..errors import (DomainExistsError, InvalidArgError, NoDomainError, OperationFailedError,
                      OperationInvalidError, XMLError)
from ..protocol import xl as xlp
from ..transport.xl import XlRunner
from .configdir import DEFAULT_CONFIG_DIR, ConfigDir
from .records import Facts, map_xl_error, state_from_letters
from .toolstack import Toolstack

__all__ = ["LibxlToolstack"]

MAX_KIB = (1 << 64) // 1024 - 1   # libxl memkb fields are uint64


def _no_domain(uuid: str) -> NoDomainError:
    return NoDomainError(f"Domain not found: no domain with matching uuid '{uuid}'")


def _facts_from_row(row: xlp.ListRow, persistent: bool | None) -> Facts:
    return Facts(row.uuid, row.domid, state_from_letters(row.state), row.mem_mib * 1024,
                 row.mem_mib * 1024, row.vcpus, row.vcpus, int(row.cpu_seconds * 1e9), row.name,
                 persistent)


def _parse(xml: str):
    """Domain XML as libvirt's libxl driver reads it (devices and defaults of that driver)."""
    from ..domxml.xml_parse import parse_domain_xml
    return parse_domain_xml(xml, driver="libxl")


def _format(d) -> str:
    from ..domxml.xml_format import format_domain_xml
    return format_domain_xml(d, style="libxl")


def _to_xl_cfg(xml: str) -> str:
    from .. import domxml
    convert = getattr(domxml, "xml_to_native", None)
    if convert is None:
        raise OperationFailedError("this xvirt has no domain XML -> xl.cfg converter "
                                   "(xvirt.domxml.xml_to_native)")
    return convert(xml, "xen-xl")


def _facts_from_def(d, persistent: bool = True) -> Facts:
    vcpus = d.vcpus_current or d.vcpus
    return Facts(d.uuid, -1, S.SHUTOFF, d.memory, d.current_memory or d.memory, vcpus, d.vcpus, 0,
                 d.name, persistent, hvm=d.hvm)


class LibxlToolstack(Toolstack):
    name = "libxl"
    pauses_before_destroy = True   # libxl__destroy_domid: xc_domain_pause, devices, then destroy

    def __init__(self, target) -> None:
        self.xl = XlRunner(target.xl_command or ("xl",))
        self.store = ConfigDir(target.config_dir or DEFAULT_CONFIG_DIR)
        self._defs: dict[str, tuple[float, object]] = {}   # uuid -> (mtime, DomainDef)

    def counts(self) -> dict[str, dict[str, int]]:
        return {"xl": self.xl.counts()}

    # -- xl calls ----------------------------------------------------------------------------
    def _run(self, what: str, sub: str, *args) -> str:
        r = self.xl.run(sub, *args)
        # xl pause/unpause ignore libxl's return code (xl_vmcontrol.c): its log line tells
        if r.returncode != 0 or (sub in ("pause", "unpause") and "libxl: error:" in r.stderr):
            raise map_xl_error(r.returncode, r.stderr, what)
        return r.stdout

    def _rows(self, what: str = "list domains") -> list[xlp.ListRow]:
        out = self._run(what, "list", "-v")
        try:
            return [r for r in xlp.parse_list(out) if "d" not in r.state]
        except ValueError as e:
            raise OperationFailedError(f"{what}: cannot read xl's output: {e}") from None

    # -- stored definitions --------------------------------------------------------------------
    def _def(self, uuid: str):
        """The stored definition of ``uuid`` (parsed, cached by file identity), or None.

        The key is (inode, mtime, size): every write replaces the file (temp + rename), so a new
        inode marks it even when two writes fall in one tick of the kernel's file clock, which
        is coarser than ``st_mtime_ns`` suggests (one jiffy)."""
        path = os.path.join(self.store.path, f"{uuid}.xml")
        try:
            st = os.stat(path)
            mtime = (st.st_ino, st.st_mtime_ns, st.st_size)
        except (FileNotFoundError, ValueError):
            self._defs.pop(uuid, None)
            return None
        hit = self._defs.get(uuid)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        xml = self.store.load(uuid)
        if xml is None:
            return None
        try:
            d = _parse(xml)
        except XMLError:
            return None
        self._defs[uuid] = (mtime, d)
        return d

    def _defs_all(self) -> list:
        return [d for d in (self._def(u) for u in self.store.uuids()) if d is not None]

    def _running(self) -> set[str]:
        return self.driver.running_uuids() if self.driver is not None else {r.uuid for r in self._rows()}

    # -- reads ---------------------------------------------------------------------------------
    def running_facts(self) -> list[Facts]:
        stored = set(self.store.uuids())
        return [_facts_from_row(r, r.uuid in stored) for r in self._rows()]

    def facts_by_uuid(self, uuid: str, *, running: bool | None = None) -> Facts | None:
        if running is not False:
            for r in self._rows():
                if r.uuid == uuid:
                    return _facts_from_row(r, self._def(uuid) is not None)
        d = self._def(uuid)
        return _facts_from_def(d) if d is not None else None

    def facts_by_id(self, domid: int) -> Facts | None:
        for r in self._rows():
            if r.domid == domid:
                return _facts_from_row(r, self._def(r.uuid) is not None)
        return None

    def facts_by_name(self, name: str, *, allow_snapshot: bool, running: bool | None = None) -> Facts | None:
        if running is not False:
            for r in self._rows():
                if r.name == name:
                    return _facts_from_row(r, self._def(r.uuid) is not None)
        for d in self._defs_all():
            if d.name == name:
                return _facts_from_def(d)
        return None

    def defined_facts(self) -> list[Facts]:
        defs = self._defs_all()
        if not defs:
            return []
        running = self._running()
        return [_facts_from_def(d) for d in defs if d.uuid not in running]

    def defined_names(self) -> list[str]:
        return sorted(f.name for f in self.defined_facts())

    def persistence(self) -> dict[str, bool]:
        out = {u: False for u in self._running()}
        out.update({u: True for u in self.store.uuids()})
        return out

    def is_persistent(self, uuid: str) -> bool:
        if self._def(uuid) is not None:
            return True
        if self.driver.running_id(uuid) is None:
            raise _no_domain(uuid)
        return False

    def host_info(self) -> dict[str, str]:
        return xlp.parse_info(self._run("virNodeGetInfo", "info"))

    def config_format(self) -> int:
        return 4  # ``xl info`` reports xend_config_format 4; libvirt's libxl driver formats for it

    def xml_desc(self, uuid: str) -> str:
        domid = self.driver.running_id(uuid)
        if domid is None:
            d = self._def(uuid)
            if d is None:
                raise _no_domain(uuid)
            return _format(d)
        xml = self.store.load_running(uuid) or self.store.load(uuid)
        d = None
        if xml is not None:
            try:
                d = _parse(xml)
            except XMLError:
                d = None
        if d is None or d.uuid != uuid:
            d = self._def_from_json(uuid, domid)
        facts = self.driver.facts(uuid, with_name=True)  # the live values (hypervisor + xenstore)
        d.id = facts.id
        d.name = facts.name or d.name
        d.current_memory = facts.mem_kib
        d.memory = max(d.memory, facts.max_mem_kib)
        d.vcpus_current = facts.vcpus if facts.vcpus != d.vcpus else None
        return _format(d)

    def _def_from_json(self, uuid: str, domid: int):
        """A definition for a domain xvirt did not start, from ``xl list -l <id>``."""
        from ..domxml import model as m
        out = self._run("virDomainGetXMLDesc", "list", "-l", str(domid))
        try:
            doc = json.loads(out[:xlp.MAX_OUTPUT])
            cfg = doc[0]["config"] if isinstance(doc, list) else doc["config"]
            c, b = cfg.get("c_info", {}), cfg.get("b_info", {})
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise OperationFailedError("virDomainGetXMLDesc: cannot read xl list -l output") from None
        d = m.DomainDef(name=str(c.get("name", "")), uuid=str(c.get("uuid", uuid)))
        d.os_type = "hvm" if c.get("type") == "hvm" else "linux"
        d.memory = int(b.get("max_memkb", 0) or 0)
        d.current_memory = int(b.get("target_memkb", d.memory) or d.memory)
        d.vcpus = int(b.get("max_vcpus", 1) or 1)
        avail = b.get("avail_vcpus")
        if isinstance(avail, list) and 0 < len(avail) < d.vcpus:
            d.vcpus_current = len(avail)
        d.kernel, d.initrd, d.cmdline = b.get("kernel"), b.get("ramdisk"), b.get("cmdline")
        d.bootloader = b.get("bootloader")
        for key in ("on_poweroff", "on_reboot", "on_crash"):
            val = str(cfg.get(key, "")).replace("_", "-")
            if val in m.LIFECYCLE_ACTIONS:
                setattr(d, key, val)
        m.add_implicit_devices(d)
        return d

    # -- lifecycle ----------------------------------------------------------------------------
    def _domid(self, uuid: str, what: str) -> int:
        domid = self.driver.running_id(uuid)
        if domid is None:
            if self._def(uuid) is None:
                raise _no_domain(uuid)
            raise OperationInvalidError(f"{what}: Requested operation is not valid: domain is not running")
        return domid

    def _check_name(self, name: str, uuid: str, what: str) -> None:
        """No other domain (running or defined) may have ``name``: DomainExistsError (code 28, as
        XenD's "already in use" is) in libvirt's words (src/conf/virdomainobjlist.c: "domain '%s'
        already exists with uuid %s" on define/create, "domain with name '%s' already exists" on
        rename)."""
        other = None
        for d in self._defs_all():
            if d.name == name and d.uuid != uuid:
                other = d.uuid
                break
        else:
            try:
                found = self.driver.lookup_name(name)
            except NoDomainError:
                return
            if found == uuid:
                return
            other = found
        if what == "virDomainRename":
            raise DomainExistsError(f"{what}: domain with name '{name}' already exists")
        raise DomainExistsError(f"{what}: domain '{name}' already exists with uuid {other}")

    def _xl_create(self, what: str, xml: str) -> None:
        cfg = _to_xl_cfg(xml)
        fd, path = tempfile.mkstemp(prefix="xvirt-", suffix=".cfg")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(cfg)
            self._run(what, "create", path)
        finally:
            os.unlink(path)

    def define_xml(self, xml: str) -> str:
        d = _parse(xml)
        text = _format(d)
        _to_xl_cfg(text)  # refuse now what xl could never be given
        self._check_name(d.name, d.uuid, "virDomainDefineXML")
        self.store.save(d.uuid, text)
        return d.uuid

    def create_xml(self, xml: str) -> str:
        d = _parse(xml)
        text = _format(d)
        self._check_name(d.name, d.uuid, "virDomainCreateXML")
        if self.driver.running_id(d.uuid) is not None:
            raise OperationInvalidError(f"virDomainCreateXML: domain with uuid {d.uuid} is already running")
        self._start(d.uuid, text, "virDomainCreateXML")
        return d.uuid

    def _start(self, uuid: str, text: str, what: str) -> None:
        """Keep the definition the domain runs from, then ``xl create``; an error leaves nothing."""
        previous = self.store.load_running(uuid)
        self.store.save_running(uuid, text)
        try:
            self._xl_create(what, text)
        except BaseException:
            if previous is None:
                self.store.delete_running(uuid)
            else:
                self.store.save_running(uuid, previous)
            raise

    def start(self, uuid: str) -> None:
        d = self._def(uuid)
        if d is None:
            raise _no_domain(uuid)
        self._start(uuid, _format(d), "virDomainCreate")

    def undefine(self, uuid: str) -> None:
        if self._def(uuid) is None:
            if self.driver.running_id(uuid) is not None:
                raise OperationInvalidError("virDomainUndefine: cannot undefine transient domain")
            raise _no_domain(uuid)
        self.store.delete(uuid)
        self._defs.pop(uuid, None)

    def restore(self, path: str) -> None:
        self._run("virDomainRestore", "restore", str(path))

    def _simple(self, uuid: str, what: str, sub: str, *args) -> None:
        self._run(what, sub, str(self._domid(uuid, what)), *args)

    def shutdown(self, uuid: str) -> None:
        self._simple(uuid, "virDomainShutdown", "shutdown")

    def core_dump(self, uuid: str, path: str, *, live: bool, crash: bool) -> None:
        """``xl dump-core <id> <file>`` (libxl_domain_core_dump; the guest is paused meanwhile
        unless live, then destroyed when crash is asked, as libvirt's libxl driver does)."""
        domid = str(self._domid(uuid, "virDomainCoreDump"))
        if not live:
            self._run("virDomainCoreDump", "pause", domid)
        try:
            self._run("virDomainCoreDump", "dump-core", domid, path)
        finally:
            if not live and not crash:
                self._run("virDomainCoreDump", "unpause", domid)
        if crash:
            self._run("virDomainCoreDump", "destroy", domid)

    def attach_device(self, uuid: str, dev, *, live: bool, config: bool) -> None:
        """Live: ``xl block-attach`` / ``network-attach``; config: the stored definition gets the
        device (libvirt's libxl driver does both for AFFECT_LIVE|AFFECT_CONFIG)."""
        from .devices import xl_attach_args
        what = "virDomainAttachDevice"
        if config:
            def change(d):
                items = d.disks if dev.kind == "disk" else d.nets
                if any(_same(x, dev) for x in items):
                    raise OperationFailedError(f"operation failed: target {dev.ref} already exists")
                items.append(copy.deepcopy(dev.model))
            self._update_def(uuid, what, change)
        if live:
            sub = "block-attach" if dev.kind == "disk" else "network-attach"
            self._simple(uuid, what, sub, *xl_attach_args(dev))
            self._change_running(uuid, lambda items: items.append(copy.deepcopy(dev.model)), dev.kind)

    def detach_device(self, uuid: str, dev, *, live: bool, config: bool) -> None:
        what = "virDomainDetachDevice"
        if config:
            def change(d):
                items = d.disks if dev.kind == "disk" else d.nets
                keep = [x for x in items if not _same(x, dev)]
                if len(keep) == len(items):
                    raise OperationFailedError(f"operation failed: no device {dev.ref} in the definition")
                items[:] = keep
            self._update_def(uuid, what, change)
        if live:
            sub = "block-detach" if dev.kind == "disk" else "network-detach"
            self._simple(uuid, what, sub, dev.ref)
            self._change_running(uuid, lambda items: items.__setitem__(
                slice(None), [x for x in items if not _same(x, dev)]), dev.kind)

    def _change_running(self, uuid: str, change, kind: str) -> None:
        """Keep the live definition (``running/<uuid>.xml``) in step with a hot-plug."""
        xml = self.store.load_running(uuid)
        if xml is None:
            return
        try:
            d = _parse(xml)
        except XMLError:
            return
        change(d.disks if kind == "disk" else d.nets)
        self.store.save_running(uuid, _format(d))

    def update_running_xml(self, uuid: str, xml: str) -> None:
        if self.store.load_running(uuid) is not None:
            self.store.save_running(uuid, xml)

    def pin_vcpu(self, uuid: str, vcpu: int, cpus: list[int]) -> None:
        """``xl vcpu-pin <id> <vcpu> <cpus>`` (libxl_set_vcpuaffinity)."""
        self._simple(uuid, "virDomainPinVcpu", "vcpu-pin", str(vcpu), ",".join(map(str, cpus)))

    def sched_credit_get(self, uuid: str) -> dict[str, int]:
        """``xl sched-credit -d <id>``: the row's weight and cap."""
        out = self._run("virDomainGetSchedulerParameters", "sched-credit", "-d",
                        str(self._domid(uuid, "virDomainGetSchedulerParameters")))
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 4 and parts[-1].isdigit() and parts[-2].isdigit():
                return {"weight": int(parts[-2]), "cap": int(parts[-1])}
        raise OperationFailedError("operation failed: xl sched-credit printed no domain row")

    def sched_credit_set(self, uuid: str, weight: int | None, cap: int | None) -> None:
        args = []
        if weight is not None:
            args += ["-w", str(weight)]
        if cap is not None:
            args += ["-c", str(cap)]
        self._run("virDomainSetSchedulerParameters", "sched-credit", "-d",
                  str(self._domid(uuid, "virDomainSetSchedulerParameters")), *args)

    def reboot(self, uuid: str) -> None:
        self._simple(uuid, "virDomainReboot", "reboot")

    def destroy(self, uuid: str) -> None:
        self._simple(uuid, "virDomainDestroy", "destroy")

    def pause(self, uuid: str) -> None:
        self._simple(uuid, "virDomainSuspend", "pause")

    def unpause(self, uuid: str) -> None:
        self._simple(uuid, "virDomainResume", "unpause")

    def save(self, uuid: str, path: str) -> None:
        self._simple(uuid, "virDomainSave", "save", str(path))

    def _own_def(self, uuid: str):
        """A private copy of the stored definition, to change and save (the cache stays as stored)."""
        d = self._def(uuid)
        return copy.deepcopy(d) if d is not None else None

    def _update_def(self, uuid: str, what: str, change) -> None:
        d = self._own_def(uuid)
        if d is None:
            raise _no_domain(uuid)
        change(d)
        self.store.save(uuid, _format(d))

    def _memory(self, uuid: str, kib: int, what: str, sub: str, field: str) -> None:
        if not 0 < kib <= MAX_KIB:
            raise InvalidArgError(f"{what}: memory size {kib} KiB out of range")
        if self.driver.running_id(uuid) is not None:
            self._simple(uuid, what, sub, f"{kib}k")
            return

        def change(d):
            if field == "current_memory" and kib > d.memory:
                raise InvalidArgError(f"{what}: cannot set memory higher than max memory")
            setattr(d, field, kib)
            if field == "memory" and d.current_memory > kib:
                d.current_memory = kib
        self._update_def(uuid, what, change)

    def set_memory(self, uuid: str, kib: int) -> None:
        self._memory(uuid, kib, "virDomainSetMemory", "mem-set", "current_memory")

    def set_max_memory(self, uuid: str, kib: int) -> None:
        self._memory(uuid, kib, "virDomainSetMaxMemory", "mem-max", "memory")

    def set_vcpus(self, uuid: str, n: int) -> None:
        if self.driver.running_id(uuid) is not None:
            self._simple(uuid, "virDomainSetVcpus", "vcpu-set", str(n))
            return

        def change(d):
            if n > d.vcpus:
                raise InvalidArgError(f"virDomainSetVcpus: requested vcpus {n} is greater than max allowable vcpus {d.vcpus}")
            d.vcpus_current = n if n != d.vcpus else None
        self._update_def(uuid, "virDomainSetVcpus", change)

    def rename(self, uuid: str, name: str) -> None:
        what = "virDomainRename"
        if not isinstance(name, str) or not name or "/" in name or "\n" in name or len(name) > 1024:
            raise InvalidArgError(f"{what}: invalid domain name {name!r}")
        self._check_name(name, uuid, what)
        d = self._own_def(uuid)
        running = self.driver.running_id(uuid) is not None
        if d is None and not running:
            raise _no_domain(uuid)
        if d is not None:  # persist first; put the old definition back if xl refuses
            old_name, d.name = d.name, name
            self.store.save(uuid, _format(d))
        try:
            if running:
                self._simple(uuid, what, "rename", name)
        except BaseException:
            if d is not None:
                d.name = old_name
                self.store.save(uuid, _format(d))
            raise

    def autostart(self, uuid: str) -> bool:
        if self._def(uuid) is None:
            if self.driver.running_id(uuid) is None:
                raise _no_domain(uuid)
            return False
        return self.store.autostart(uuid)

    def set_autostart(self, uuid: str, on: bool) -> None:
        if self._def(uuid) is None:
            if self.driver.running_id(uuid) is None:
                raise _no_domain(uuid)
            raise OperationInvalidError("virDomainSetAutostart: cannot set autostart for transient domain")
        self.store.set_autostart(uuid, on)

    def autostart_uuids(self) -> list[str]:
        return [u for u in self.store.uuids() if self.store.autostart(u)]


def _same(item, dev) -> bool:
    """A definition's disk or interface is the one ``dev`` names (target / MAC)."""
    if dev.kind == "disk":
        return getattr(item, "target", None) == dev.model.target
    mac = getattr(item, "mac", None)
    return bool(mac) and mac.lower() == (dev.model.mac or "").lower()
