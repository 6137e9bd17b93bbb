"""``xvirt event``: wait for domain events and print them in virsh's ``event`` format.

virsh's options and words (tools/virsh-domain-event.c): ``--event lifecycle`` or ``--all`` (one
is required, or ``--list``), ``--domain``, ``--loop`` (otherwise the first event ends it),
``--timeout S`` (then ``event loop timed out``), ``--timestamp``; at the end ``events received: N``.
Xen 3.0.4 has sources for the ``lifecycle`` and ``reboot`` events only; the other names virsh
knows are accepted and never fire.
"""

from __future__ import annotations

import sys
import time

import click

from .session import CommandError, VirshCommand, call, emit, resolve_domain, with_session

__all__ = ["COMMANDS", "EVENT_NAMES"]

# virsh's event names, in its order (virshDomainEventCallbacks)
EVENT_NAMES = ("lifecycle", "reboot", "rtc-change", "watchdog", "io-error", "graphics", "io-error-reason",
               "control-error", "block-job", "disk-change", "tray-change", "pm-wakeup", "pm-suspend",
               "balloon-change", "pm-suspend-disk", "device-removed", "block-job-2", "tunable",
               "agent-lifecycle", "device-added", "migration-iteration", "job-completed",
               "device-removal-failed", "metadata-change", "block-threshold", "memory-failure",
               "memory-device-size-change")
DELIVERED = {"lifecycle", "reboot"}
NO_PUSH_NOTE = ("note: this URI reaches XenD only (no xenstore, no hypervisor records): only this "
                "process's own pause/unpause and define/undefine/rename are delivered; starts, stops, "
                "shutdowns, crashes and reboots are not (docs/events.md)")


@click.command("event", cls=VirshCommand, help="Wait for domain events and print them (virsh event).")
@click.option("--domain", "domain", metavar="DOMAIN", help="Only events of this domain.")
@click.option("--event", "event", metavar="NAME", help="Which event type to wait for.")
@click.option("--all", "all_", is_flag=True, help="Wait for every event type.")
@click.option("--loop", is_flag=True, help="Keep waiting after the first event.")
@click.option("--timeout", type=int, metavar="SECONDS", help="Stop after this many seconds.")
@click.option("--list", "list_", is_flag=True, help="List the event types.")
@click.option("--timestamp", is_flag=True, help="Prefix each event with the time it was noticed.")
@with_session
def event_cmd(session, domain, event, all_, loop, timeout, list_, timestamp):
    if list_:
        emit("".join(f"{n}\n" for n in EVENT_NAMES))
        return
    if event is None and not all_:
        raise CommandError("one of --list, --all, or --event <type> is required")
    if event is not None and all_:
        raise CommandError("Options --all and --event are mutually exclusive")
    if event is not None and event not in EVENT_NAMES:
        raise CommandError(f"unknown event type {event}")
    if timeout is not None and timeout < 1:
        raise CommandError(f"invalid timeout value: '{timeout}'")
    kinds = DELIVERED if all_ else ({event} & DELIVERED)
    conn = session.conn
    uuid = resolve_domain(conn, domain).uuid if domain else None
    stream = call("failed to register for events", conn.events, kinds=kinds or {"none"}, uuid=uuid)
    if not stream.source.channels:
        click.echo(NO_PUSH_NOTE, err=True)
    count = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                stream.timeout = left
            try:
                ev = next(stream)
            except StopIteration:
                timed_out = deadline is not None and stream.close_reason is None
                break
            emit(ev.virsh_line(timestamp) + "\n")
            sys.stdout.flush()
            count += 1
            if not loop:
                break
    except KeyboardInterrupt:
        emit("event loop interrupted\n")
    finally:
        stream.close()
    if timed_out:
        emit("event loop timed out\n")
    emit(f"events received: {count}\n")


COMMANDS = [event_cmd]
