"""On the real C xenstored: a watch event is delivered before the reply to any later request.

The driver's registry relies on it: after one round trip on its connection, every event caused by
a change that finished before that round trip began has been received. Checked on the wire (raw
messages, in arrival order) on the daemon's socket and on the kernel's /dev/xen/xenbus.
"""

import os
import socket

import pytest

from xvirt.protocol import xenstore as xsp
from xvirt.protocol.xenstore import XsType

ROUNDS = 100


class Raw:
    """One xenstore connection read message by message (no client-side reordering)."""

    def __init__(self, path):
        self.path = path
        if path.startswith("/dev/"):
            self.fd = os.open(path, os.O_RDWR)
            self.sock = None
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(10)
            self.sock.connect(path)
        self.dec = xsp.Decoder()
        self.req = 0

    def send(self, typ, *args):
        self.req += 1
        if typ == XsType.WRITE:
            data = xsp.write_request(args[0], args[1].encode(), req_id=self.req)
        else:
            data = xsp.request(typ, *args, req_id=self.req)
        if self.sock:
            self.sock.sendall(data)
        else:
            os.write(self.fd, data)
        return self.req

    def next(self):
        while True:
            msg = self.dec.next_message()
            if msg is not None:
                return msg
            chunk = self.sock.recv(65536) if self.sock else os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError("xenstored closed the connection")
            self.dec.feed(chunk)

    def until_reply(self):
        """Messages up to and including the next non-event one: (events, reply)."""
        events = []
        while True:
            m = self.next()
            if m.type == XsType.WATCH_EVENT:
                events.append(xsp.parse_watch_event(m.payload))
            else:
                return events, m

    def close(self):
        if self.sock:
            self.sock.close()
        else:
            os.close(self.fd)


@pytest.mark.parametrize("path", ["/run/xenstored/socket", "/dev/xen/xenbus"])
def test_events_precede_the_reply_to_a_later_request(path):
    watcher, writer = Raw(path), Raw("/run/xenstored/socket")
    try:
        base = f"/xvirt-order-{os.path.basename(path)}"
        writer.send(XsType.WRITE, base, "")
        assert writer.until_reply()[1].type == XsType.WRITE
        watcher.send(XsType.WATCH, base, "tok")
        events, reply = watcher.until_reply()
        assert reply.type == XsType.WATCH
        pending = list(events)                    # the registration's own firing, either side of the reply
        misses = []
        for i in range(ROUNDS):
            node = f"{base}/n{i % 7}"
            writer.send(XsType.WRITE, node, str(i))
            assert writer.until_reply()[1].type == XsType.WRITE     # the change is done
            watcher.send(XsType.READ, node)                          # a later request on the watcher
            events, reply = watcher.until_reply()
            assert reply.type == XsType.READ and reply.payload == str(i).encode()
            seen = [p for p, _t in pending + events]
            pending = []
            if node not in seen:
                misses.append(i)
        assert misses == [], f"events arrived after a later reply in rounds {misses[:20]} of {ROUNDS}"
        writer.send(XsType.RM, base)
        writer.until_reply()
    finally:
        watcher.close()
        writer.close()
