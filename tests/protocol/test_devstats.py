"""The per-domain device counter file (bytes only) and the real dom0's sysfs reader on a directory tree."""

import json

import pytest

from xvirt.protocol import devstats as ds
from xvirt.transport.devstats import SimStatsReader, SysfsStatsReader

UUID = "11111111-2222-3333-4444-555555555555"


def one(active=True, active_ns=0, stamp=1_000, since=0):
    return ds.encode(domid=3, uuid=UUID, stamp_ns=stamp, active_ns=active_ns, active=active,
                     devices=[{"kind": "vbd", "devid": 51712, "name": "xvda", "source": "phy:/dev/x",
                               "base": {"rd_req": 5}, "rate": {"rd_req": 10, "rd_sect": 80}, "since_ns": since},
                              {"kind": "vif", "devid": 0, "name": "vif3.0", "source": "00:16:3e:00:00:01",
                               "base": {}, "rate": {"tx_bytes": 1000}}],
                     affinity=[[0, 1], [2]], weight=512, cap=25)


def test_counters_grow_with_active_time_only():
    raw = one()
    at = ds.decode(raw, 1_000 + 2_000_000_000)
    vbd, vif = at.devices
    assert vbd.counters["rd_req"] == 5 + 20 and vbd.counters["rd_sect"] == 160 and vbd.counters["wr_req"] == 0
    assert vif.counters["tx_bytes"] == 2000 and at.affinity == ((0, 1), (2,)) and (at.weight, at.cap) == (512, 25)
    paused = ds.decode(one(active=False, active_ns=3_000_000_000), 10**12)
    assert paused.devices[0].counters["rd_req"] == 5 + 30          # banked time only
    late = ds.decode(one(active=False, active_ns=3_000_000_000, since=2_000_000_000), 10**12)
    assert late.devices[0].counters["rd_req"] == 5 + 10            # plugged after 2 s of the 3


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b"x" * (ds.MAX_SIZE + 1),
                                 json.dumps({"stamp_ns": -1, "devices": []}).encode(),
                                 json.dumps({"stamp_ns": 0, "devices": [{"kind": "pci"}]}).encode(),
                                 json.dumps({"stamp_ns": 0, "devices": [{}] * (ds.MAX_DEVICES + 1)}).encode(),
                                 json.dumps({"stamp_ns": 0, "uuid": UUID, "domid": 1, "devices": [
                                     {"kind": "vbd", "devid": 1, "name": "x", "base": {"rd_req": "9"},
                                      "rate": {}}]}).encode()])
def test_malformed_files_are_refused(raw):
    with pytest.raises(ValueError):
        ds.decode(raw, 0)


def test_sim_reader_checks_the_domain_and_counts(tmp_path):
    (tmp_path / "3").write_bytes(one())
    (tmp_path / "4").write_bytes(b"garbage")
    r = SimStatsReader(str(tmp_path))
    assert r.read(3, UUID).devices[0].name == "xvda"
    assert r.read(3, "00000000-0000-0000-0000-000000000001") is None   # the id was reused
    assert r.read(4, UUID) is None and r.read(5, UUID) is None
    assert r.reads == 4


def test_sysfs_reader_reads_blkback_and_vif_counters(tmp_path):
    vbd = tmp_path / "sys/bus/xen-backend/devices/vbd-7-51712/statistics"
    vbd.mkdir(parents=True)
    for k, v in {"rd_req": 11, "rd_sect": 88, "wr_req": 3, "wr_sect": 24, "oo_req": 1}.items():
        (vbd / k).write_text(f"{v}\n")
    (tmp_path / "sys/bus/xen-backend/devices/vbd-17-51712").mkdir()     # another domain's
    vif = tmp_path / "sys/class/net/vif7.0/statistics"
    vif.mkdir(parents=True)
    (vif / "tx_bytes").write_text("4242\n")
    (vif / "rx_bytes").write_text("not a number\n")
    stats = SysfsStatsReader(str(tmp_path)).read(7, UUID, {("vbd", 51712): "xvda"})
    disk, nic = stats.devices
    assert (disk.name, disk.counters["rd_req"], disk.counters["oo_req"]) == ("xvda", 11, 1)
    assert (nic.name, nic.counters["tx_bytes"], nic.counters["rx_bytes"]) == ("vif7.0", 4242, 0)
