"""An unmodified-style libvirt-python event monitor (``import libvirt``), run by test_facade_events.

It makes the same calls as libvirt-python's examples/event-test.py, in its three loop modes
(``native``: virEventRegisterDefaultImpl + virEventRunDefaultImpl in a thread; ``poll``: its own
poll() loop given to virEventRegisterImpl; ``asyncio``: libvirtaio), and prints one line per
callback so the test can compare. Written for these tests, not copied from libvirt-python.
"""

import os
import select
import sys
import threading
import time

import libvirt

mode, uri = sys.argv[1], sys.argv[2]


class PollLoop:
    """A minimal application event loop: handles and periodic timers over poll()."""

    def __init__(self):
        self.handles, self.timers, self.next_id = {}, {}, 1
        self.wake_r, self.wake_w = os.pipe()
        self.lock = threading.Lock()

    def _id(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def _wake(self):
        os.write(self.wake_w, b"x")

    def add_handle(self, fd, events, cb, opaque):
        hid = self._id()
        self.handles[hid] = [fd, events, cb, opaque]
        self._wake()
        return hid

    def update_handle(self, hid, events):
        if hid in self.handles:
            self.handles[hid][1] = events
            self._wake()

    def remove_handle(self, hid):
        h = self.handles.pop(hid, None)
        if h is not None:
            libvirt.virEventInvokeFreeCallback(h[3])
        self._wake()
        return 0 if h is not None else -1

    def add_timer(self, interval, cb, opaque):
        tid = self._id()
        self.timers[tid] = [interval, cb, opaque, time.monotonic()]
        self._wake()
        return tid

    def update_timer(self, tid, interval):
        if tid in self.timers:
            self.timers[tid][0] = interval
            self._wake()

    def remove_timer(self, tid):
        t = self.timers.pop(tid, None)
        self._wake()
        return 0 if t is not None else -1

    def run(self):
        while True:
            dues = [t[3] + t[0] / 1000 for t in list(self.timers.values()) if t[0] >= 0]
            wait = None if not dues else max(0, min(dues) - time.monotonic()) * 1000
            p = select.poll()
            p.register(self.wake_r, select.POLLIN)
            for fd, events, _cb, _o in list(self.handles.values()):
                if events & libvirt.VIR_EVENT_HANDLE_READABLE:
                    p.register(fd, select.POLLIN)
            for fd, rev in p.poll(wait):
                if fd == self.wake_r:
                    os.read(fd, 64)
                    continue
                for hid, (hfd, _events, cb, opaque) in list(self.handles.items()):
                    if hfd == fd:
                        cb(hid, fd, libvirt.VIR_EVENT_HANDLE_READABLE, opaque)
            now = time.monotonic()
            for tid, t in list(self.timers.items()):
                if t[0] >= 0 and now >= t[3] + t[0] / 1000:
                    t[3] = now
                    t[1](tid, t[2])


def start_loop():
    if mode == "native":
        libvirt.virEventRegisterDefaultImpl()

        def run():
            while True:
                libvirt.virEventRunDefaultImpl()
        threading.Thread(target=run, daemon=True).start()
    elif mode == "poll":
        loop = PollLoop()
        libvirt.virEventRegisterImpl(loop.add_handle, loop.update_handle, loop.remove_handle,
                                     loop.add_timer, loop.update_timer, loop.remove_timer)
        threading.Thread(target=loop.run, daemon=True).start()
    else:
        import asyncio

        import libvirtaio
        loop = asyncio.new_event_loop()
        libvirtaio.virEventRegisterAsyncIOImpl(loop=loop)
        threading.Thread(target=loop.run_forever, daemon=True).start()


def say(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


start_loop()
closed = threading.Event()
vc = libvirt.openReadOnly(uri)
vc.registerCloseCallback(lambda conn, reason, opaque: (say("close", reason), closed.set()), None)


def legacy(c, d, e, det, o):
    say("lifecycle", o, d.name(), d.ID(), e, det)


vc.domainEventRegister(legacy, 1)
ids = [vc.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                 lambda c, d, e, det, o: say("lifecycle", o, d.name(), d.ID(), e, det), 2),
       vc.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
                                 lambda c, d, o: say("reboot", d.name(), d.ID()), None)]
ids += [vc.domainEventRegisterAny(None, i, lambda *a: say("unexpected", a), None)
        for i in range(libvirt.VIR_DOMAIN_EVENT_ID_RTC_CHANGE, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD + 1)]
others = [(vc.networkEventDeregisterAny, vc.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, say, None)),
          (vc.storagePoolEventDeregisterAny, vc.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH, say, None)),
          (vc.nodeDeviceEventDeregisterAny, vc.nodeDeviceEventRegisterAny(None, libvirt.VIR_NODE_DEVICE_EVENT_ID_UPDATE, say, None)),
          (vc.secretEventDeregisterAny, vc.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED, say, None))]
vc.setKeepAlive(5, 3)
say("ready", len(ids), len(others))
line = sys.stdin.readline().strip()   # "wait-close" or "deregister"
if line == "deregister":
    vc.domainEventDeregister(legacy)
    for dereg, cid in others:
        dereg(cid)
    for cid in ids:
        vc.domainEventDeregisterAny(cid)
    vc.unregisterCloseCallback()
    say("deregistered", vc.close())
else:
    say("waiting", closed.wait(60))
