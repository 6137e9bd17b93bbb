"""The simulated host's device counters and vCPU affinity, published per running domain as dom0's sysfs would show them.

One file ``stats/<domid>`` per running domain (format: ``xvirt.protocol.devstats``), replaced
whole whenever the domain's table record changes (start, pause, unpause, pin, ...); the reader
extrapolates the counters from the guest's active time, so they grow while it runs unpaused
without rewrites. Rates follow the guest's activity, so busy guests do more I/O.
"""

from __future__ import annotations

import os
import time

from ..protocol import devstats as ds
from ..protocol import sxp

__all__ = ["DevStatsWriter", "devices_of", "VBD_BASE_DEVID"]

VBD_BASE_DEVID = 51712  # xvda's device number (major 202 << 8), as the xenstore nodes use


def devices_of(dom) -> list[dict]:
    """The domain's vbds and vifs with their rates (per second of active time)."""
    out = []
    act = max(1, dom.activity)
    for kind, devid, spec in dom.devices():
        if kind in ("vbd", "tap"):
            target = (sxp.child_value(spec, "dev") or f"xvd{chr(97 + (devid - VBD_BASE_DEVID) // 16)}").split(":")[0]
            rd = 3 + act // 50
            wr = 1 + act // 100
            out.append({"kind": "vbd", "devid": devid, "name": target,
                        "source": sxp.child_value(spec, "uname") or "", "base": {},
                        "rate": {"rd_req": rd, "rd_sect": rd * 16, "wr_req": wr, "wr_sect": wr * 8,
                                 "oo_req": 0}})
        elif kind == "vif":
            rx, tx = 600 + act * 2, 1500 + act * 4   # as dom0's vif sees them: rx = guest sends
            out.append({"kind": "vif", "devid": devid, "name": f"vif{dom.domid}.{devid}",
                        "source": sxp.child_value(spec, "mac") or "", "base": {},
                        "rate": {"rx_bytes": rx, "rx_packets": rx // 300 + 1, "tx_bytes": tx,
                                 "tx_packets": tx // 500 + 1, "rx_errors": 0, "rx_dropped": 0,
                                 "tx_errors": 0, "tx_dropped": 0}})
    for dev in out:
        since = dom.io_since.get((dev["kind"], dev["devid"]))
        if since:
            dev["since_ns"] = since
    return out


class DevStatsWriter:
    def __init__(self, directory: str, host_cpus: int) -> None:
        self.dir = directory
        self.host_cpus = host_cpus
        os.makedirs(directory, mode=0o700, exist_ok=True)
        for name in os.listdir(directory):  # a previous boot's domains are gone
            if name.isdigit() or name.endswith(".tmp"):
                os.unlink(os.path.join(directory, name))

    def _path(self, domid: int) -> str:
        return os.path.join(self.dir, str(int(domid)))

    def publish(self, dom) -> None:
        """Bank the active time under the previous state, then write the file for the new one."""
        now = time.monotonic_ns()
        if dom.io_stamp and dom.io_active:
            dom.io_ns += max(0, now - dom.io_stamp)
        dom.io_stamp = now
        dom.io_active = dom.rate() > 0
        everything = list(range(self.host_cpus))
        affinity = [dom.affinity.get(i, everything) for i in range(dom.vcpus)]
        raw = ds.encode(domid=dom.domid, uuid=dom.uuid, stamp_ns=now, active_ns=dom.io_ns,
                        active=dom.io_active, devices=devices_of(dom), affinity=affinity,
                        weight=dom.sched_weight, cap=dom.sched_cap)
        tmp = self._path(dom.domid) + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, raw)
        finally:
            os.close(fd)
        os.replace(tmp, self._path(dom.domid))

    def remove(self, domid: int) -> None:
        try:
            os.unlink(self._path(domid))
        except FileNotFoundError:
            pass
