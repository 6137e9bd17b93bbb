"""The ``xvirt`` commands around the virsh set: exporter, sim (start/stop/status/env), demo, domxml-*.

``domxml-from-native``/``domxml-to-native`` convert without any host. ``sim`` drives
``xvirt.sim.launcher`` (which runs the host as its own process). ``demo`` is the README's main job: on a simulated host with 20 domains and
40 ms XenD latency it shows ``xvirt list --all``, ``xvirt list`` and a few ``xvirt top -b``
samples, each with the XenD requests the client made and the simulator counted.
"""

from __future__ import annotations

import functools
import signal
import threading

import click

from ..constants import ListFlags
from ..errors import LibvirtError
from . import format as fmt
from .session import CommandError, Session, VirshCommand, emit, read_file, session_of

__all__ = ["COMMANDS"]


def plain_errors(fn):
    """Library errors as ``error: <msg>`` on stderr with exit status 1 (no virsh blank line)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CommandError as e:
            for line in e.lines:
                click.echo(f"error: {line}", err=True)
        except LibvirtError as e:
            click.echo(f"error: {e}", err=True)
        raise click.exceptions.Exit(1)
    return wrapper


# -- domxml-* ----------------------------------------------------------------------------------------
_XCF = click.option("--xend-config-format", "xcf", type=click.IntRange(1, 4), default=4, show_default=True,
                    help="XenD config format version to convert for (1-4).")


@click.command("domxml-from-native", cls=VirshCommand)
@click.argument("native_format", metavar="FORMAT")
@click.argument("config", metavar="FILE")
@_XCF
def domxml_from_native_cmd(native_format, config, xcf):
    """Convert a native guest configuration (xen-xl, xen-xm, xen-sxpr) to domain XML."""
    from ..domxml import domain_xml_from_native
    xml = domain_xml_from_native(native_format, read_file(config), xend_config_format=xcf)
    emit(xml if xml.endswith("\n") else xml + "\n")


@click.command("domxml-to-native", cls=VirshCommand)
@click.argument("native_format", metavar="FORMAT")
@click.argument("xml", metavar="FILE")
@_XCF
def domxml_to_native_cmd(native_format, xml, xcf):
    """Convert domain XML to a native guest configuration (xen-xl, xen-xm, xen-sxpr)."""
    from ..domxml import domain_xml_to_native
    text = domain_xml_to_native(native_format, read_file(xml), xend_config_format=xcf)
    emit(text if text.endswith("\n") else text + "\n")


# -- exporter ----------------------------------------------------------------------------------------
@click.command("exporter")
@click.option("-c", "--connect", "uri", metavar="URI", help="Hypervisor connection URI.")
@click.option("--listen", default="127.0.0.1:9177", show_default=True, metavar="HOST:PORT",
              help="Address to serve /metrics on (port 0: any free port).")
@click.option("--timeout", type=click.FloatRange(min=0.05), default=10.0, show_default=True,
              help="Longest a scrape waits for the bulk sample, in seconds.")
@click.option("--max-age", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Oldest sample served when a collection is late, in seconds.")
@click.pass_context
@plain_errors
def exporter_cmd(ctx, uri, listen, timeout, max_age):
    """Serve Prometheus metrics (libvirt_exporter names), one bulk sample per scrape."""
    from .exporter import Exporter, parse_listen, serve
    host, port = parse_listen(listen)
    ex = Exporter(uri or session_of(ctx).uri, timeout=timeout, max_age=max_age)
    try:
        server, _thread = serve(ex, host, port)
    except OSError as e:
        raise CommandError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"xvirt exporter: serving http://{shown}:{server.server_port}/metrics", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        ex.close()


# -- sim -------------------------------------------------------------------------------------------
@click.group("sim")
def sim_group():
    """Run a simulated Xen host (XenD, xenstored, hypervisor table) without root."""


def _host_args(fn):
    """NAME (argument or --name, default "default") and --dir for every ``sim`` command."""
    fn = click.option("--dir", "root", metavar="DIR", default=None,
                      help="State directory (default $XDG_RUNTIME_DIR/xvirt/sim/NAME); it must be new, "
                           "empty or the simulator's own.")(fn)
    fn = click.option("--name", "name_opt", default=None, metavar="NAME",
                      help="Name of the simulated host (same as the NAME argument).")(fn)
    return click.argument("name", required=False, metavar="[NAME]")(fn)


def _name(name, name_opt) -> str:
    if name and name_opt and name != name_opt:
        raise CommandError(f"two different host names given: {name!r} and {name_opt!r}")
    return name or name_opt or "default"


def _describe(st: dict, root) -> str:
    from ..sim.paths import sim_uri
    if not st.get("running"):
        return f"simulated host '{st['name']}' is not running (state directory {st['state_dir']})\n"
    s = st.get("settings", {})
    lines = [f"simulated host '{st['name']}' running, pid {st['pid']}",
             f"domains: {st.get('domains', '?')} running, {st.get('inactive', '?')} inactive",
             (f"XenD latency: {s.get('xend_latency_ms', '?')} ms" + (f", TCP {s['tcp']}" if s.get("tcp") else "")
              if s.get("toolstack", "xend") == "xend" else "toolstack: xl (libxl), no XenD"),
             f"state directory: {st['state_dir']}",
             f"URI: {sim_uri(st['name'], root)}"]
    return "\n".join(lines) + "\n"


@sim_group.command("start")
@_host_args
@click.option("--domains", type=click.IntRange(min=0), default=None, help="Running domains [default: 20].")
@click.option("--inactive", type=click.IntRange(min=0), default=None, help="Defined, inactive domains.")
@click.option("--xend-latency-ms", type=click.FloatRange(min=0), default=None,
              help="Latency of every XenD request [default: 40].")
@click.option("--tcp", metavar="HOST:PORT", help="Also serve XenD on TCP (loopback only unless --force-tcp).")
@click.option("--force-tcp", is_flag=True, default=None, help="Allow a non-loopback --tcp address.")
@click.option("--first-domid", type=int, default=None, help="First domain id handed out [default: 1].")
@click.option("--host-cpus", type=click.IntRange(min=1), default=None, help="Host CPUs [default: 8].")
@click.option("--toolstack", type=click.Choice(["xend", "xl"]), default=None,
              help="xend: a Xen 3.x host with XenD; xl: a current host (libxl's xenstore layout, no XenD, "
                   "driven by `python -m xvirt.sim.xl`) [default: xend].")
@plain_errors
def sim_start_cmd(name, name_opt, root, domains, inactive, xend_latency_ms, tcp, force_tcp, first_domid, host_cpus,
                  toolstack):
    """Start a simulated host (nothing happens if it already runs).

    A host keeps the settings it was created with: a later start with other ones is refused."""
    from ..sim import launcher
    name = _name(name, name_opt)
    st = launcher.start(name, root=root, domains=domains, inactive=inactive, latency_ms=xend_latency_ms, tcp=tcp,
                        force_tcp=force_tcp, first_domid=first_domid, host_cpus=host_cpus,
                        toolstack=toolstack)
    emit(_describe(st, root))


@sim_group.command("stop")
@_host_args
@plain_errors
def sim_stop_cmd(name, name_opt, root):
    """Stop a simulated host (running domains die with it; defined ones persist)."""
    from ..sim import launcher
    name = _name(name, name_opt)
    if launcher.stop(name, root=root):
        emit(f"simulated host '{name}' stopped\n")
    else:
        emit(f"simulated host '{name}' is not running\n")


@sim_group.command("status")
@_host_args
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@plain_errors
def sim_status_cmd(name, name_opt, root, as_json):
    """Show whether a simulated host runs (exit status 1 if not)."""
    from ..sim import launcher
    st = launcher.status(_name(name, name_opt), root)
    emit(fmt.to_json(st) if as_json else _describe(st, root))
    if not st.get("running"):
        raise click.exceptions.Exit(1)


@sim_group.command("env")
@_host_args
@plain_errors
def sim_env_cmd(name, name_opt, root):
    """Shell exports for a simulated host (eval "$(xvirt sim env)")."""
    from ..sim.paths import env_lines
    emit("".join(line + "\n" for line in env_lines(_name(name, name_opt), root)))


# -- demo ------------------------------------------------------------------------------------------
@click.command("demo")
@click.option("--name", default="default", show_default=True, help="Simulated host to use (started if needed).")
@click.option("--domains", type=click.IntRange(min=1), default=None,
              help="Running domains of a new host [default: 20; an existing host keeps its own].")
@click.option("--xend-latency-ms", type=click.FloatRange(min=0), default=None,
              help="XenD latency of a new host [default: 40; an existing host keeps its own].")
@click.option("--samples", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--delay", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@plain_errors
def demo_cmd(name, domains, xend_latency_ms, samples, delay):
    """The main job on a simulated host: list and top, with the XenD requests they cost."""
    from ..sim import launcher
    from ..sim.control_client import SimControl
    from ..sim.paths import SimPaths, sim_uri, state_dir
    from .commands_read import list_rows
    from .top import Sampler, host_facts, render_text, run_loop
    st = launcher.start(name, domains=domains, latency_ms=xend_latency_ms)
    if st.get("started"):
        click.echo(launcher.describe_start(st), err=True)
    settings = st.get("settings", {})
    emit(f"# simulated Xen host '{name}': {st.get('domains')} running + {st.get('inactive')} inactive domains, "
         f"XenD latency {settings.get('xend_latency_ms', '?')} ms\n")
    ctl = SimControl(SimPaths(state_dir(name)).control)
    session = Session(sim_uri(name))
    conn = session.conn
    report: list[tuple[str, int, int, int]] = []

    def step(title: str, fn) -> None:
        ctl.reset_counters()
        before = conn.request_counts()
        emit(f"\n$ {title}\n")
        fn()
        after, sim = conn.request_counts(), ctl.counters()
        client = after["xend_total"] - before["xend_total"]
        xs = after["xenstore_total"] - before["xenstore_total"]
        emit(f"# XenD requests: {client} by the client, {sim['xend_total']} counted by the simulator; "
             f"xenstore messages: {xs}\n")
        report.append((title, client, sim["xend_total"], xs))

    try:
        step("xvirt list --all", lambda: emit(fmt.list_table(
            [dict(r, state=r["state_code"]) for r in list_rows(conn, ListFlags.ACTIVE | ListFlags.INACTIVE)])))
        step("xvirt list", lambda: emit(fmt.list_table(
            [dict(r, state=r["state_code"]) for r in list_rows(conn, ListFlags.ACTIVE)])))
        sampler = Sampler(conn, host_facts(conn))  # host facts: the hypervisor channel, no XenD
        first = [True]

        def show(frame) -> None:
            emit(("" if first[0] else "\n") + render_text(frame, "cpu"))
            first[0] = False
        step(f"xvirt top -b -d {delay:g} -n {samples}",
             lambda: run_loop(sampler.sample, show, iterations=samples, delay=delay))
        emit("\n# summary (XenD requests: client / simulator)\n")
        width = max(len(t) for t, *_ in report)
        for title, client, sim, _xs in report:
            emit(f"  {title:<{width}}  {client} / {sim}\n")
        emit(f"\nThe simulated host '{name}' keeps running: try `xvirt list --all`, `xvirt top`, "
             f"`xvirt dominfo web-01`; stop it with `xvirt sim stop {name}`.\n")
    finally:
        session.close()
        ctl.close()


COMMANDS = [domxml_from_native_cmd, domxml_to_native_cmd, exporter_cmd, sim_group, demo_cmd]
