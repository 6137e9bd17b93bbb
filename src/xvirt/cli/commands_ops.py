"""The ``xvirt`` commands that change domains (start, create, define, destroy, save, setmem, ...).

Success and failure messages are virsh 9's (``tools/virsh-domain.c``): most echo the domain
argument as the user typed it (``Domain '3' destroyed``); ``start``, ``create`` and ``define``
name the domain. A failed operation prints virsh's ``Failed to ...`` line and then the library's
message on a second ``error:`` line. Files named for ``save``/``restore`` are passed to XenD as
given: XenD resolves them on the host.
"""

from __future__ import annotations

import click

from . import format as fmt
from .session import CommandError, VirshCommand, call, emit, read_file, resolve_domain, with_session

__all__ = ["COMMANDS"]


def _simple(name: str, method: str, done: str, failed: str, help_text: str) -> click.Command:
    """A command taking one domain and calling one Domain method (suspend, destroy, ...)."""
    @click.command(name, cls=VirshCommand, help=help_text)
    @click.argument("domain")
    @with_session
    def command(session, domain):
        dom = resolve_domain(session.conn, domain)
        call(failed.format(domain), getattr(dom, method))
        emit(done.format(domain) + "\n")
    return command


destroy_cmd = _simple("destroy", "destroy", "Domain '{}' destroyed", "Failed to destroy domain '{}'",
                      "Destroy (stop) a domain immediately.")
suspend_cmd = _simple("suspend", "suspend", "Domain '{}' suspended", "Failed to suspend domain '{}'",
                      "Suspend (pause) a running domain.")
resume_cmd = _simple("resume", "resume", "Domain '{}' resumed", "Failed to resume domain '{}'",
                     "Resume a suspended domain.")
shutdown_cmd = _simple("shutdown", "shutdown", "Domain '{}' is being shutdown", "Failed to shutdown domain '{}'",
                       "Gracefully shut down a domain.")
reboot_cmd = _simple("reboot", "reboot", "Domain '{}' is being rebooted", "Failed to reboot domain '{}'",
                     "Reboot a domain.")
undefine_cmd = _simple("undefine", "undefine", "Domain '{}' has been undefined", "Failed to undefine domain '{}'",
                       "Undefine an inactive domain (remove its configuration).")


@click.command("start", cls=VirshCommand)
@click.argument("domain")
@with_session
def start_cmd(session, domain):
    """Start a (previously defined) inactive domain."""
    dom = resolve_domain(session.conn, domain, by_id=False)
    if dom.id >= 0:
        raise CommandError("Domain is already active")
    name = dom.name
    call(f"Failed to start domain '{name}'", dom.create)
    emit(f"Domain '{name}' started\n")


@click.command("create", cls=VirshCommand)
@click.argument("file")
@with_session
def create_cmd(session, file):
    """Create (and start) a transient domain from an XML file."""
    xml = read_file(file)
    dom = call(f"Failed to create domain from {file}", session.conn.create_xml, xml)
    emit(f"Domain '{dom.name}' created from {file}\n")


@click.command("define", cls=VirshCommand)
@click.argument("file")
@with_session
def define_cmd(session, file):
    """Define (but don't start) a domain from an XML file."""
    xml = read_file(file)
    dom = call(f"Failed to define domain from {file}", session.conn.define_xml, xml)
    emit(f"Domain '{dom.name}' defined from {file}\n")


@click.command("save", cls=VirshCommand)
@click.argument("domain")
@click.argument("file")
@with_session
def save_cmd(session, domain, file):
    """Save a running domain's state to FILE on the host and stop it.

    FILE is not a path of this machine's current directory: XenD opens it on the Xen host, relative
    to its own working directory. On a simulated host (xen+sim) it is relative to the host's save
    directory, STATE_DIR/save (see `xvirt sim status`), and paths outside that directory are refused."""
    dom = resolve_domain(session.conn, domain)
    call(f"Failed to save domain '{domain}' to {file}", dom.save, file)
    emit(f"\nDomain '{domain}' saved to {file}\n")


@click.command("restore", cls=VirshCommand)
@click.argument("file")
@with_session
def restore_cmd(session, file):
    """Restore a domain from a saved state FILE on the host (it gets a new id).

    FILE is resolved by XenD on the Xen host, as for `save`: on a simulated host (xen+sim) relative to
    its save directory, STATE_DIR/save; paths outside that directory are refused."""
    call(f"Failed to restore domain from {file}", session.conn.restore, file)
    emit(f"Domain restored from {file}\n")


def _size(text: str) -> int:
    try:
        return fmt.parse_scaled_kib(text)
    except ValueError as e:
        raise CommandError(str(e)) from None


@click.command("setmem", cls=VirshCommand)
@click.argument("domain")
@click.argument("size")
@with_session
def setmem_cmd(session, domain, size):
    """Change the memory allocation (SIZE in KiB unless suffixed: M, MiB, G, ...)."""
    kib = _size(size)
    dom = resolve_domain(session.conn, domain)
    call(None, dom.set_memory, kib)


@click.command("setmaxmem", cls=VirshCommand)
@click.argument("domain")
@click.argument("size")
@with_session
def setmaxmem_cmd(session, domain, size):
    """Change the maximum memory limit (SIZE in KiB unless suffixed)."""
    kib = _size(size)
    dom = resolve_domain(session.conn, domain)
    call("Unable to change MaxMemorySize", dom.set_max_memory, kib)


@click.command("setvcpus", cls=VirshCommand)
@click.argument("domain")
@click.argument("count")
@with_session
def setvcpus_cmd(session, domain, count):
    """Change the number of virtual CPUs."""
    try:
        n = int(count, 10)
        if n < 0:
            raise ValueError
    except ValueError:
        raise CommandError(f"Numeric value '{count}' for <count> option is malformed or out of range") from None
    dom = resolve_domain(session.conn, domain)
    call(None, dom.set_vcpus, n)


@click.command("domrename", cls=VirshCommand)
@click.argument("domain")
@click.argument("new_name")
@with_session
def domrename_cmd(session, domain, new_name):
    """Rename a domain."""
    dom = resolve_domain(session.conn, domain)
    call(None, dom.rename, new_name)
    emit("Domain successfully renamed\n")


@click.command("autostart", cls=VirshCommand)
@click.argument("domain")
@click.option("--disable", is_flag=True, help="Turn autostart off.")
@with_session
def autostart_cmd(session, domain, disable):
    """Autostart a domain when the host starts (XenD: on_xend_start; libxl: xvirt's flag)."""
    dom = resolve_domain(session.conn, domain)
    if disable:
        call(f"Failed to unmark domain '{domain}' as autostarted", dom.set_autostart, False)
        emit(f"Domain '{domain}' unmarked as autostarted\n")
    else:
        call(f"Failed to mark domain '{domain}' as autostarted", dom.set_autostart, True)
        emit(f"Domain '{domain}' marked as autostarted\n")


COMMANDS = [start_cmd, create_cmd, define_cmd, undefine_cmd, shutdown_cmd, reboot_cmd, destroy_cmd,
            suspend_cmd, resume_cmd, save_cmd, restore_cmd, setmem_cmd, setmaxmem_cmd, setvcpus_cmd,
            domrename_cmd, autostart_cmd]
