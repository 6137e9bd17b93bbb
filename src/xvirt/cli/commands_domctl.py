"""virsh's vCPU, scheduler, device and image commands: vcpupin, schedinfo, attach-/detach-device, managedsave, dump.

Texts are virsh 9's (tools/virsh-domain.c: ``cmdVcpuPin``, ``cmdSchedinfo``, ``cmdAttachDevice``, ``cmdManagedSave``,
``cmdManagedSaveRemove``, ``cmdDump``); a failure prints virsh's ``Failed to ...`` line, then the
library's message.
"""

from __future__ import annotations

import click

from ..errors import LibvirtError
from . import format as fmt
from .session import CommandError, VirshCommand, emit, json_option, resolve_domain, with_session
from ..domxml.model import format_cpuset

__all__ = ["COMMANDS", "cpulist", "parse_cpulist", "vcpupin_table"]


def cpulist(mask) -> str:
    """virBitmapFormat: ``0-3,6`` for the CPUs set in ``mask``."""
    return format_cpuset({i for i, on in enumerate(mask) if on})


def parse_cpulist(text: str, ncpus: int) -> list[int]:
    """virsh's cpulist: ``1,3``, ``0-3``, ``^2`` exclusions, ``r`` (all); CommandError if malformed."""
    t = text.strip()
    if t == "r":
        return list(range(ncpus))
    cpus: set[int] = set()
    try:
        for part in t.split(","):
            neg = part.startswith("^")
            lo, sep, hi = part.lstrip("^").partition("-")
            span = range(int(lo), int(hi if sep else lo) + 1)
            if neg:
                cpus.difference_update(span)
            else:
                cpus.update(span)
    except ValueError:
        raise CommandError(f"cpulist: Invalid format. '{text}'") from None
    if not cpus or max(cpus) >= ncpus or min(cpus) < 0:
        raise CommandError(f"Physical CPU {max(cpus, default=-1)} doesn't exist." if cpus else
                           f"cpulist: Invalid format. '{text}'")
    return sorted(cpus)


def vcpupin_table(maps, first: int = 0) -> str:
    """virsh vcpupin's vshTable: ``VCPU`` and ``CPU Affinity`` columns."""
    return fmt.table(["VCPU", "CPU Affinity"], [(str(first + n), cpulist(m)) for n, m in enumerate(maps)])


def _call(fn, failure: str):
    try:
        return fn()
    except LibvirtError as e:
        raise CommandError(failure, str(e)) from None


@click.command("vcpupin", cls=VirshCommand)
@click.argument("domain")
@click.argument("vcpu", required=False, type=int)
@click.argument("cpus", required=False)
@json_option
@with_session
def vcpupin_cmd(session, domain, vcpu, cpus, as_json):
    """Show the vCPUs' affinity, or pin VCPU to the physical CPUs CPUS (e.g. 1,3 or 0-3)."""
    dom = resolve_domain(session.conn, domain)
    if cpus is None:
        maps = _call(dom.vcpu_pin_info, "Failed to get vcpupin information")
        if vcpu is not None:
            if not 0 <= vcpu < len(maps):
                raise CommandError(f"vcpu {vcpu} is out of range of live cpu count {len(maps)}")
            maps = maps[vcpu:vcpu + 1]
            first = vcpu
        else:
            first = 0
        if as_json:
            emit(fmt.to_json({str(first + n): cpulist(m) for n, m in enumerate(maps)}))
        else:
            emit(vcpupin_table(maps, first))
        return
    if vcpu is None:
        raise CommandError("vcpupin: missing vcpu number")
    ncpus = session.conn.node_info().cpus
    _call(lambda: dom.pin_vcpu(vcpu, parse_cpulist(cpus, ncpus)), "Failed to pin vcpu")


@click.command("schedinfo", cls=VirshCommand)
@click.argument("domain")
@click.option("--weight", type=int, default=None, help="Credit scheduler weight (1..65535).")
@click.option("--cap", type=int, default=None, help="Credit scheduler cap (0 = none, 100 = one CPU).")
@click.option("--set", "set_", multiple=True, help="parameter=value (weight, cap).")
@json_option
@with_session
def schedinfo_cmd(session, domain, weight, cap, set_, as_json):
    """Show or set the domain's credit scheduler parameters."""
    dom = resolve_domain(session.conn, domain)
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep or key not in ("weight", "cap") or not value.lstrip("-").isdigit():
            raise CommandError(f"invalid scheduler parameter: {item}")
        if key == "weight":
            weight = int(value)
        else:
            cap = int(value)
    if weight is not None or cap is not None:
        _call(lambda: dom.set_scheduler_parameters(weight=weight, cap=cap), "Unable to change scheduler parameters")
    params = _call(dom.scheduler_parameters, "Unable to get scheduler parameters")
    if as_json:
        emit(fmt.to_json({"scheduler": dom.scheduler_type(), **params}))
    else:
        emit(f"{'Scheduler':<15}: {dom.scheduler_type()}\n"
             + "".join(f"{k:<15}: {v}\n" for k, v in params.items()))


@click.command("managedsave", cls=VirshCommand)
@click.argument("domain")
@with_session
def managedsave_cmd(session, domain):
    """Save a running persistent domain; its next start restores it."""
    dom = resolve_domain(session.conn, domain)
    _call(dom.managed_save, f"Failed to save domain '{domain}' state")
    emit(f"\nDomain '{domain}' state saved by libvirt\n")


@click.command("managedsave-remove", cls=VirshCommand)
@click.argument("domain")
@with_session
def managedsave_remove_cmd(session, domain):
    """Remove a domain's managed save image."""
    dom = resolve_domain(session.conn, domain)
    if not _call(dom.has_managed_save_image, "Failed to check for domain managed save image"):
        emit(f"Domain '{domain}' has no manage save image; removal skipped\n")
        return
    _call(dom.managed_save_remove, f"Failed to remove managed save image for domain '{domain}'")
    emit(f"Removed managedsave image for domain '{domain}'\n")


@click.command("dump", cls=VirshCommand)
@click.argument("domain")
@click.argument("file")
@click.option("--live", is_flag=True, help="Perform a live core dump if supported.")
@click.option("--crash", is_flag=True, help="Crash the domain after core dump.")
@with_session
def dump_cmd(session, domain, file, live, crash):
    """Dump the core of a domain to FILE on the host (a simulated host: in its save directory)."""
    if live and crash:
        raise CommandError("Options --live and --crash are mutually exclusive")
    dom = resolve_domain(session.conn, domain)
    _call(lambda: dom.core_dump(file, live=live, crash=crash), f"Failed to core dump domain '{domain}' to {file}")
    emit(f"\nDomain '{domain}' dumped to {file}\n")


def _device_cmd(name: str, method: str, verb: str):
    @click.command(name, cls=VirshCommand)
    @click.argument("domain")
    @click.argument("file")
    @click.option("--live", is_flag=True, help="Affect the running domain.")
    @click.option("--config", is_flag=True, help="Affect the next boot (the domain's config).")
    @click.option("--persistent", is_flag=True, help="Live and config when running, else config.")
    @click.option("--current", is_flag=True, help="Affect the domain as it is now.")
    @with_session
    def cmd(session, domain, file, live, config, persistent, current):
        if current and (live or config):
            raise CommandError("Options --current and --live/--config are mutually exclusive")
        try:
            with open(file, encoding="utf-8") as f:
                xml = f.read(1 << 20)
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"Failed to read file '{file}' to {verb}", str(e)) from None
        dom = resolve_domain(session.conn, domain)
        if persistent:
            live, config = dom.is_active() or None, True
        kwargs = {"live": True if live else (None if not config else False), "config": bool(config)}
        _call(lambda: getattr(dom, method)(xml, **kwargs), f"Failed to {verb} device from {file}")
        emit(f"Device {'attached' if verb == 'attach' else 'detached'} successfully\n")
    cmd.__doc__ = f"{verb.capitalize()} a <disk> or <interface> from an XML FILE."
    return cmd


attach_device_cmd = _device_cmd("attach-device", "attach_device", "attach")
detach_device_cmd = _device_cmd("detach-device", "detach_device", "detach")


@click.command("migrate", cls=VirshCommand)
@click.argument("domain")
@click.argument("desturi")
@click.option("--live", is_flag=True, help="Live migration.")
@with_session
def migrate_cmd(session, domain, desturi, live):
    """Migrate a running domain to the host of DESTURI (XenD's relocation service)."""
    import xvirt
    dom = resolve_domain(session.conn, domain)
    try:
        dest = xvirt.open(desturi)
    except LibvirtError as e:
        raise CommandError(str(e)) from None
    try:
        _call(lambda: dom.migrate(dest, live=live), f"Failed to migrate domain '{domain}'")
    finally:
        dest.close()


COMMANDS = [migrate_cmd, attach_device_cmd, detach_device_cmd, vcpupin_cmd, schedinfo_cmd, managedsave_cmd, managedsave_remove_cmd, dump_cmd]
