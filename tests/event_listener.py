"""When a separate event-listening process has subscribed (so what happens next is news to it),
told by the simulated host's exact xenstore request counts: shared by the CLI and real-client tests."""

import time

import xvirt
from xvirt.cli.session import resolve_domain


def listening_cost(host, domain: str | None = None) -> dict:
    """The xenstore WATCHes and READs ``xvirt event`` makes before it listens (resolving
    ``--domain`` registers the connection's own watches too, then the stream subscribes and reads
    its baseline), counted by doing the same in this process: request counts are exact."""
    before = host.control.counters()["xenstore"]
    with xvirt.open(host.uri) as conn:
        uuid = resolve_domain(conn, domain).uuid if domain else None
        stream = conn.events(kinds={"lifecycle"}, uuid=uuid)
        after = host.control.counters()["xenstore"]
        stream.close()
    return {k: after.get(k, 0) - before.get(k, 0) for k in ("WATCH", "READ")}


def wait_subscribed(host, before: dict, cost: dict) -> None:
    """The listener made every request of ``cost``: it registered its watches and read every name
    of its baseline snapshot (the names are read after the table), so whatever happens from now
    on is news to it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = host.control.counters()["xenstore"]
        if all(now.get(k, 0) - before.get(k, 0) >= n for k, n in cost.items()):
            return
        time.sleep(0.02)
    raise AssertionError("the event listener never subscribed")
