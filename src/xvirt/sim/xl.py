"""The simulated host's ``xl``: ``python -m xvirt.sim.xl --root STATE_DIR <xl args>``, driving the host over its control socket.

It answers the subcommands xvirt's libxl toolstack uses (list [-l] [-v], info, create, shutdown,
reboot, destroy, pause, unpause, save, restore, mem-set, mem-max, vcpu-set, rename) with real
``xl``'s output formats (``xvirt.protocol.xl``), stderr messages and exit codes as Xen 4.17's
tools/xl prints them: ``find_domain`` takes an all-digit argument as an id and anything else as
a name (``<ref> is an invalid domain identifier (rc=-6)``, exit 1); libxl's failures are
``libxl: error: ...`` lines followed by ``<op> failed (rc=N)``; usage errors exit 2. Messages that
real libxl words differently for the same failure keep the simulator's wording after the
``libxl: error:`` prefix. Each run is counted on the host (control ``xl_called``), so tests can
compare the client's counts with the host's.
"""

from __future__ import annotations

import json
import os
import sys
import time

from ..errors import LibvirtError, NoConnectError, OperationFailedError
from ..protocol import domtable as dt
from ..protocol import sxp
from ..protocol import xl as xlp
from .control_client import SimControl
from .paths import SimPaths

__all__ = ["main"]

MAX_CFG = 1 << 20
XEN = ("4", "17", ".5")


class XlExit(Exception):
    def __init__(self, code: int, stderr: str = "") -> None:
        super().__init__(stderr)
        self.code, self.stderr = code, stderr


def _err(*lines: str) -> None:
    for line in lines:
        sys.stderr.write(line + "\n")


class Xl:
    def __init__(self, ctl: SimControl) -> None:
        self.ctl = ctl

    # -- helpers --------------------------------------------------------------------------------
    def running(self) -> list[dict]:
        return [d for d in self.ctl.truth()["running"] if "d" not in d["state"]]

    def find_domain(self, ref: str) -> int:
        """xl_utils.c ``find_domain``: digits are an id (not checked here), else a name."""
        if ref.isdigit():
            return int(ref)
        for d in self.running():
            if d["name"] == ref:
                return d["domid"]
        raise XlExit(1, f"{ref} is an invalid domain identifier (rc=-6)")

    def dom(self, domid: int, op: str) -> dict:
        for d in self.running():
            if d["domid"] == domid:
                return d
        raise XlExit(1, f"libxl: error: libxl_domain.c: Domain {domid}:Non-existant domain\n"
                        f"{op} failed (rc=-21)")

    def host_op(self, op: str, what: str, d: dict, **params) -> None:
        try:
            self.ctl.op(op, d["uuid"], **params)
        except OperationFailedError as e:
            raise XlExit(1, f"libxl: error: libxl_domain.c: Domain {d['domid']}:{e.message}\n"
                            f"{what} failed (rc=-3)") from None

    @staticmethod
    def args(argv: list[str], flags: str, nargs: int, usage: str) -> tuple[set[str], list[str]]:
        opts, rest = set(), []
        for a in argv:
            if a.startswith("-") and len(a) > 1 and not rest:
                for ch in a[1:]:
                    if ch not in flags:
                        raise XlExit(2, f"option `{ch}' not supported.")
                    opts.add(ch)
            else:
                rest.append(a)
        if len(rest) < nargs:
            raise XlExit(2, f"'xl {usage}' requires at least {nargs} argument{'s' if nargs > 1 else ''}.\n")
        return opts, rest

    # -- subcommands ----------------------------------------------------------------------------
    def cmd_list(self, argv: list[str]) -> None:
        opts, refs = self.args(argv, "lv", 0, "list")
        doms = self.running()
        if refs:
            wanted = [self.find_domain(r) for r in refs]
            doms = [d for d in doms if d["domid"] in wanted]
        if "l" in opts:
            out = []
            for d in doms:
                rec = sxp.parse(self.ctl.call("domain", domain=d["uuid"]))
                out.append({"domid": d["domid"], "config": _config_json(rec, d)})
            sys.stdout.write(json.dumps(out, indent=4) + "\n\n")
            return
        verbose = "v" in opts
        lines = [xlp.LIST_HEADER_VERBOSE if verbose else xlp.LIST_HEADER]
        for d in doms:
            reason = None
            if "s" in d["state"] or "c" in d["state"]:
                reason = (d["flags"] >> dt.SHUTDOWN_SHIFT) & 0xFF
            row = xlp.ListRow(d["name"], d["domid"], d["memory_kib"] // 1024, d["vcpus"], d["state"],
                              d["cpu_ns"] / 1e9, d["uuid"], reason)
            lines.append(xlp.format_list_row(row, verbose=verbose))
        sys.stdout.write("\n".join(lines) + "\n")

    def cmd_info(self, argv: list[str]) -> None:
        node = sxp.parse(self.ctl.call("node"))
        v = {c[0]: c[1] for c in node[1:] if isinstance(c, list) and len(c) == 2}
        cpus = int(v.get("nr_cpus", "1"))
        items = [("host", v.get("host", "")), ("release", "6.1.0-xvirt-sim"), ("version", "#1 SMP xvirt simulated host"),
                 ("machine", v.get("machine", "x86_64")), ("nr_cpus", str(cpus)), ("max_cpu_id", str(cpus - 1)),
                 ("nr_nodes", v.get("nr_nodes", "1")), ("cores_per_socket", v.get("cores_per_socket", "1")),
                 ("threads_per_core", v.get("threads_per_core", "1")), ("cpu_mhz", f"{v.get('cpu_mhz', '0')}.000"),
                 ("hw_caps", v.get("hw_caps", "")), ("virt_caps", "pv hvm hap shadow gnttab-v1 gnttab-v2"),
                 ("total_memory", v.get("total_memory", "0")), ("free_memory", v.get("free_memory", "0")),
                 ("sharing_freed_memory", "0"), ("sharing_used_memory", "0"), ("outstanding_claims", "0"),
                 ("free_cpus", "0"), ("xen_major", XEN[0]), ("xen_minor", XEN[1]), ("xen_extra", XEN[2]),
                 ("xen_version", f"{XEN[0]}.{XEN[1]}{XEN[2]}"),
                 ("xen_caps", "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 "),
                 ("xen_scheduler", "credit2"), ("xen_pagesize", "4096"),
                 ("platform_params", "virt_start=0xffff800000000000"), ("xen_changeset", ""),
                 ("xen_commandline", "placeholder"), ("cc_compiler", "xvirt simulator"),
                 ("cc_compile_by", "xvirt"), ("cc_compile_domain", "simulated"),
                 ("cc_compile_date", "simulated"), ("build_id", "0" * 40), ("xend_config_format", "4")]
        sys.stdout.write(xlp.format_info(items))

    def cmd_create(self, argv: list[str]) -> None:
        opts, rest = self.args(argv, "pqdFecV", 1, "create")
        path = rest[0]
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CFG + 1)
        except OSError as e:
            raise XlExit(1, f"Failed to read config file: {path}: {e.strerror}") from None
        if "q" not in opts:
            _err(f"Parsing config from {path}")
        if len(data) > MAX_CFG:
            raise XlExit(1, f"Failed to parse config: {path}: file too large")
        try:
            config = _host_config(data.decode("utf-8", "replace"))
        except LibvirtError as e:
            raise XlExit(1, f"Failed to parse config: {e.message}") from None
        try:
            self.ctl.create(config, paused="p" in opts)
        except OperationFailedError as e:
            msg = e.message
            name = sxp.child_value(sxp.parse(config), "name")
            if "already in use" in msg:
                msg = f'Domain with name "{name}" already exists.'
            raise XlExit(1, f"libxl: error: libxl_create.c: {msg}\nlibxl: error: libxl_create.c: "
                            f"cannot make domain: -6") from None

    def _shutdown(self, argv: list[str], reboot: bool) -> None:
        what = "reboot" if reboot else "shutdown"
        opts, rest = self.args(argv, "awF", 0, what)
        if not rest:
            raise XlExit(1, "You must specify -a or a domain id.\n")
        d = self.dom(self.find_domain(rest[0]), what)
        _err(f"{'Rebooting' if reboot else 'Shutting down'} domain {d['domid']}")
        self.host_op("shutdown", what, d, reason="reboot" if reboot else "poweroff")
        if "w" in opts:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if all(x["uuid"] != d["uuid"] or x["domid"] != d["domid"] for x in self.running()):
                    _err(f"Domain {d['domid']} has been shut down, reason code {1 if reboot else 0}")
                    return
                time.sleep(0.02)

    def cmd_shutdown(self, argv: list[str]) -> None:
        self._shutdown(argv, reboot=False)

    def cmd_reboot(self, argv: list[str]) -> None:
        self._shutdown(argv, reboot=True)

    def cmd_destroy(self, argv: list[str]) -> None:
        opts, rest = self.args(argv, "f", 1, "destroy")
        domid = self.find_domain(rest[0])
        if domid == 0 and "f" not in opts:
            raise XlExit(1, "Not destroying domain 0; use -f to force.\nThis can only be done when "
                            "using a disaggregated hardware domain and toolstack.\n")
        try:
            d = self.dom(domid, "destroy")
        except XlExit:  # as captured on Xen 4.17.5
            raise XlExit(1, f"libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain {domid}:Non-existant domain\n"
                            f"libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain {domid}:Unable to destroy guest\n"
                            f"libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain {domid}:Destruction of domain failed\n"
                            f"destroy failed (rc=-21)") from None
        self.host_op("destroy", "destroy", d)

    def _pause(self, argv: list[str], op: str) -> None:
        _, rest = self.args(argv, "", 1, op)
        domid = self.find_domain(rest[0])
        try:
            d = self.dom(domid, op)
            self.ctl.op(op, d["uuid"])
        except XlExit:
            # xl_vmcontrol.c ignores libxl_domain_pause's return code: libxl logs, xl exits 0
            _err(f"libxl: error: libxl_domain.c: Domain {domid}:Non-existant domain")
        except OperationFailedError as e:
            _err(f"libxl: error: libxl_domain.c: Domain {domid}:{e.message}")

    def cmd_pause(self, argv: list[str]) -> None:
        self._pause(argv, "pause")

    def cmd_unpause(self, argv: list[str]) -> None:
        self._pause(argv, "unpause")

    def cmd_save(self, argv: list[str]) -> None:
        _, rest = self.args(argv, "cpD", 2, "save")
        d = self.dom(self.find_domain(rest[0]), "save")
        _err(f"Saving to {rest[1]} new xl format (info 0x3/0x0/1037)")
        self.host_op("save", "save", d, file=rest[1])

    def cmd_restore(self, argv: list[str]) -> None:
        opts, rest = self.args(argv, "pedFV", 1, "restore")
        path = rest[-1]
        try:
            self.ctl.restore(path)
        except OperationFailedError as e:
            if "No such file" in e.message:
                raise XlExit(1, "Can't open restore file: No such file or directory") from None
            if "not a valid guest state file" in e.message:
                raise XlExit(1, "File has wrong magic number - corrupt or for a different tool?") from None
            raise XlExit(1, f"libxl: error: libxl_create.c: {e.message}") from None
        _err(f"Loading new save file {path} (new xl fmt info 0x3/0x0/1037)\n"
             f" Savefile contains xl domain config in JSON format\nParsing config from <saved>")

    def _mem(self, argv: list[str], op: str, host_op: str, key: str) -> None:
        _, rest = self.args(argv, "", 2, op)
        kib = _mem_kb(rest[1])
        if kib is None or kib <= 0:
            raise XlExit(1, f"invalid memory size: {rest[1]}")
        d = self.dom(self.find_domain(rest[0]), op)
        self.host_op(host_op, op, d, **{key: -(-kib // 1024)})

    def cmd_mem_set(self, argv: list[str]) -> None:
        self._mem(argv, "mem-set", "mem_target_set", "target")

    def cmd_mem_max(self, argv: list[str]) -> None:
        self._mem(argv, "mem-max", "maxmem_set", "memory")

    def cmd_vcpu_set(self, argv: list[str]) -> None:
        _, rest = self.args(argv, "", 2, "vcpu-set")
        if not rest[1].isdigit() or int(rest[1]) < 1:
            raise XlExit(1, f"Invalid vcpus count: {rest[1]}")
        d = self.dom(self.find_domain(rest[0]), "vcpu-set")
        self.host_op("set_vcpus", "vcpu-set", d, vcpus=int(rest[1]))

    def cmd_dump_core(self, argv: list[str]) -> None:
        """``xl dump-core <Domain> <filename>``."""
        _, rest = self.args(argv, "", 2, "dump-core")
        d = self.dom(self.find_domain(rest[0]), "dump-core")
        self.host_op("dump", "dump-core", d, file=rest[1], live=1, crash=0)

    def cmd_block_attach(self, argv: list[str]) -> None:
        """``xl block-attach <Domain> <disk-spec>``: the positional ``target,vdev,access`` form
        or ``key=value`` pairs (``target=``, ``vdev=``, ``access=``)."""
        _, rest = self.args(argv, "", 2, "block-attach")
        d = self.dom(self.find_domain(rest[0]), "block-attach")
        keys: dict[str, str] = {}
        positional = []
        for part in ",".join(rest[1:]).split(","):
            k, sep, v = part.strip().partition("=")
            if sep:
                keys[k] = v
            elif part.strip():
                positional.append(part.strip())
        for k, v in zip(("target", "vdev", "access"), positional):
            keys.setdefault(k, v)
        if "target" not in keys or "vdev" not in keys:
            raise XlExit(1, f"Invalid disk spec: {rest[1]}")
        target = keys["target"] if ":" in keys["target"] else f"phy:{keys['target']}"
        mode = "r" if keys.get("access", "w") in ("r", "ro") else "w"
        cfg = f"(vbd (dev {keys['vdev']}) (uname {target}) (mode {mode}))"
        self.host_op("device_create", "block-attach", d, config=cfg)

    def cmd_network_attach(self, argv: list[str]) -> None:
        """``xl network-attach <Domain> [mac=..] [bridge=..]``."""
        _, rest = self.args(argv, "", 1, "network-attach")
        d = self.dom(self.find_domain(rest[0]), "network-attach")
        parts = ["vif"]
        for kv in rest[1:]:
            k, sep, v = kv.partition("=")
            if not sep or k not in ("mac", "bridge", "script", "ip"):
                raise XlExit(1, f"unrecognized argument `{kv}'")
            parts.append(f"({k} {v})")
        self.host_op("device_create", "network-attach", d, config="(" + " ".join(parts) + ")")

    def _detach(self, argv: list[str], sub: str, kind: str) -> None:
        _, rest = self.args(argv, "", 2, sub)
        d = self.dom(self.find_domain(rest[0]), sub)
        self.host_op("device_destroy", sub, d, type=kind, dev=rest[1])

    def cmd_block_detach(self, argv: list[str]) -> None:
        self._detach(argv, "block-detach", "vbd")

    def cmd_network_detach(self, argv: list[str]) -> None:
        self._detach(argv, "network-detach", "vif")

    def cmd_vcpu_pin(self, argv: list[str]) -> None:
        """``xl vcpu-pin <Domain> <VCPU|all> <CPUs|all>`` (libxl_set_vcpuaffinity)."""
        _, rest = self.args(argv, "", 3, "vcpu-pin")
        d = self.dom(self.find_domain(rest[0]), "vcpu-pin")
        self.host_op("pincpu", "vcpu-pin", d, vcpu=rest[1], cpumap=rest[2])

    def cmd_sched_credit(self, argv: list[str]) -> None:
        """``xl sched-credit -d <Domain> [-w W] [-c C]``: set, or print the domain's row."""
        opts: dict[str, str] = {}
        it = iter(argv)
        for a in it:
            if a in ("-d", "-w", "-c", "--domain", "--weight", "--cap"):
                value = next(it, None)
                if value is None:
                    raise XlExit(2, f"option requires an argument -- '{a.lstrip('-')[0]}'")
                opts[a.lstrip("-")[0]] = value
            else:
                raise XlExit(2, f"option `{a}' not supported.")
        if "d" not in opts:
            raise XlExit(1, "Must specify a domain.")
        d = self.dom(self.find_domain(opts["d"]), "sched-credit")
        if "w" in opts or "c" in opts:
            params = {}
            for key, name in (("w", "weight"), ("c", "cap")):
                if key in opts:
                    if not opts[key].lstrip("-").isdigit():
                        raise XlExit(1, f"Invalid {name}: {opts[key]}")
                    params[name] = int(opts[key])
            self.host_op("domain_sched_credit_set", "sched-credit", d, **params)
            return
        rec = self.ctl.op("domain_sched_credit_get", d["uuid"])
        vals = {k: v for k, v in rec[1:]} if isinstance(rec, list) else {}
        sys.stdout.write(f"{'Name':<33} {'ID':>4} {'Weight':>6} {'Cap':>4}\n"
                         f"{d['name']:<33} {d['domid']:>4} {vals.get('weight', '256'):>6} {vals.get('cap', '0'):>4}\n")

    def cmd_rename(self, argv: list[str]) -> None:
        _, rest = self.args(argv, "", 2, "rename")
        d = self.dom(self.find_domain(rest[0]), "rename")
        try:
            self.ctl.op("rename", d["uuid"], name=rest[1])
        except OperationFailedError as e:
            msg = e.message
            if "already in use" in msg:
                msg = f'domain with name "{rest[1]}" already exists.'
            raise XlExit(1, f"libxl: error: libxl_domain.c: Domain {d['domid']}:{msg}\n"
                            f"Can't rename domain '{rest[0]}'.") from None


def _host_config(cfg: str) -> str:
    """The simulated host's create config (SXP) for an xl.cfg: through domain XML; what XenD's
    config cannot express (network disks, SPICE, ...) but libxl accepts is left out of the
    host's copy, which only needs identity, sizes, kernel and lifecycle actions."""
    from ..domxml import domain_xml_to_sxpr, native_to_xml
    from ..domxml.xml_parse import parse_domain_xml
    from ..errors import NoSupportError, XMLError
    xml = native_to_xml(cfg, "xen-xl")
    try:
        return domain_xml_to_sxpr(xml, driver="libxl")
    except (NoSupportError, XMLError):
        d = parse_domain_xml(xml, driver="libxl")
    image = ["hvm" if d.hvm else "linux"]
    for key, val in (("kernel", d.kernel), ("ramdisk", d.initrd), ("args", d.cmdline)):
        if val:
            image.append([key, val])
    vcpus = d.vcpus_current or d.vcpus
    config = ["vm", ["name", d.name], ["uuid", d.uuid], ["memory", str(max(1, (d.current_memory or d.memory) // 1024))],
              ["maxmem", str(max(1, d.memory // 1024))], ["vcpus", str(d.vcpus)],
              ["vcpu_avail", str((1 << vcpus) - 1)], ["image", image]]
    for key in ("on_poweroff", "on_reboot", "on_crash"):
        val = getattr(d, key)
        if val in ("destroy", "restart", "preserve", "rename-restart"):
            config.append([key, val])
    return sxp.show(config)


def _mem_kb(text: str) -> int | None:
    """xl's ``parse_mem_size_kb``: a number with an optional b/k/m/g/t suffix, MiB by default."""
    num = text.rstrip("bBkKmMgGtT")
    suffix = text[len(num):].lower()
    if not num.isdigit() or len(suffix) > 1 or len(num) > 20:
        return None
    n = int(num)
    return {"": n << 10, "m": n << 10, "k": n, "b": n >> 10, "g": n << 20, "t": n << 30}[suffix]


def _config_json(rec: list, d: dict) -> dict:
    """``xl list -l``'s ``config`` object for a domain, from its record (fields as libxl_types.idl)."""
    image = sxp.child(rec, "image")
    linux = image[1] if image and len(image) > 1 and isinstance(image[1], list) else []
    c_info = {"type": "hvm" if linux[:1] == ["hvm"] else "pv", "name": d["name"]}
    if d["domid"] != 0:
        c_info.update(domid=4294967295, uuid=d["uuid"], run_hotplug_scripts="True")
    b_info: dict = {}
    if d["domid"] != 0:
        b_info["max_vcpus"] = d["max_vcpus"]
        b_info["avail_vcpus"] = [i for i in range(d["max_vcpus"]) if i < d["vcpus"]]
    b_info.update(max_memkb=d["maxmem_kib"], target_memkb=d["memory_kib"])
    b_info["sched_params"] = {"sched": "credit2", "weight": 256, "cap": 0}
    for key, field in (("kernel", "kernel"), ("args", "cmdline"), ("ramdisk", "ramdisk")):
        val = sxp.child_value(linux, key) if linux else None
        if val is not None:
            b_info[field] = val
    b_info.update({"type.pv": {}, "arch_arm": {}, "arch_x86": {}})
    cfg: dict = {"c_info": c_info, "b_info": b_info}
    if d["domid"] != 0:
        for key in ("on_poweroff", "on_reboot", "on_crash"):
            val = sxp.child_value(rec, key)
            if val:
                cfg[key] = val.replace("-", "_")
    return cfg


COMMANDS = {"list": Xl.cmd_list, "info": Xl.cmd_info, "create": Xl.cmd_create,
            "shutdown": Xl.cmd_shutdown, "reboot": Xl.cmd_reboot, "destroy": Xl.cmd_destroy,
            "pause": Xl.cmd_pause, "unpause": Xl.cmd_unpause, "save": Xl.cmd_save,
            "restore": Xl.cmd_restore, "mem-set": Xl.cmd_mem_set, "mem-max": Xl.cmd_mem_max,
            "vcpu-set": Xl.cmd_vcpu_set, "rename": Xl.cmd_rename, "vcpu-pin": Xl.cmd_vcpu_pin,
            "sched-credit": Xl.cmd_sched_credit, "dump-core": Xl.cmd_dump_core,
            "block-attach": Xl.cmd_block_attach, "block-detach": Xl.cmd_block_detach,
            "network-attach": Xl.cmd_network_attach, "network-detach": Xl.cmd_network_detach}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "--root":
        _err("usage: python -m xvirt.sim.xl --root STATE_DIR <subcommand> [args]")
        return 2
    root, rest = argv[1], argv[2:]
    if not rest:
        _err("Usage xl [-vfNtT] <subcommand> [args]")
        return 1
    sub, args = rest[0], rest[1:]
    try:
        ctl = SimControl(SimPaths(os.path.abspath(root)).control, timeout=30)
        ctl.call("xl_called", sub=sub)
    except (NoConnectError, OperationFailedError):
        _err("xencall: error: Could not obtain handle on privileged command interface: "
             "No such file or directory",
             "libxl: error: libxl.c:102:libxl_ctx_alloc: cannot open libxc handle: No such file or directory",
             "cannot init xl context")
        return 1
    handler = COMMANDS.get(sub)
    if handler is None:
        _err("command not implemented")
        return 1
    try:
        handler(Xl(ctl), args)
    except XlExit as e:
        if e.stderr:
            sys.stderr.write(e.stderr.rstrip("\n") + "\n")
        return e.code
    except NoConnectError as e:
        _err(f"libxl: error: {e.message}")
        return 1
    finally:
        ctl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
