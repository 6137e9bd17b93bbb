"""The libxenctrl hypervisor channel off Xen: clear errors here, and its calls against a fake library."""

import ctypes
import errno
import os
import shutil
import subprocess
import sys
import uuid

import pytest

import xvirt
from xvirt.errors import ErrorCode, NoConnectError, NoSupportError, XenCallError
from xvirt.protocol import domctl
from xvirt.protocol import domtable as dt
from xvirt.transport import xenctrl
from xvirt.uri import parse_uri

L = domctl.layout_for(4, 17)


class FakeXc:
    """libxenctrl's functions over a list of records; getinfolist answers from the first id >= X."""

    def __init__(self, infos, version=(4, 17), fail_errno=0):
        self.infos = sorted(infos, key=lambda i: i.domid)
        self.version = version
        self.fail_errno = fail_errno
        self.calls = []
        self.closed = 0

    def xc_interface_open(self, logger, dlogger, flags):
        return 0x1234

    def xc_interface_close(self, xch):
        self.closed += 1
        return 0

    def xc_version(self, xch, cmd, buf):
        if cmd == xenctrl.XENVER_version:
            return (self.version[0] << 16) | self.version[1]
        ctypes.memmove(buf, b".5\0", 3)
        return 0

    def xc_domain_getinfolist(self, xch, first, count, buf):
        self.calls.append(("getinfolist", first, count))
        if self.fail_errno:
            ctypes.set_errno(self.fail_errno)
            return -1
        recs = [i for i in self.infos if i.domid >= first][:count]
        raw = b"".join(domctl.encode_domaininfo(L, i) for i in recs)
        ctypes.memmove(buf, raw, len(raw))
        return len(recs)

    def xc_physinfo(self, xch, buf):
        self.calls.append(("physinfo",))
        raw = domctl.encode_physinfo(L, domctl.PhysInfo(1, 4, 8, 1, 2_400_000, 4096 * 256, 1000 * 256))
        ctypes.memmove(buf, raw, len(raw))
        return 0


def _info(domid, flags=dt.RUNNING, handle=None):
    return dt.DomainInfo(domid, flags, 256 * domid, 512 * domid, 10**9 * domid, 1, 0, 0,
                         handle or uuid.UUID(int=domid + 1).bytes)


def test_xen_uri_on_this_host_names_what_is_missing():
    assert not os.path.exists("/dev/xen/privcmd"), "this test describes a host without Xen"
    assert not os.path.exists("/var/lib/xend/xend-socket") and shutil.which("xl") is None
    conn = xvirt.open("xen:///")
    try:
        assert conn._driver.hv is None
        with pytest.raises(NoSupportError) as e:
            conn.list_domain_ids()
        msg = e.value.message
        assert "/dev/xen/privcmd does not exist" in msg and "not a Xen dom0" in msg and "no Xen toolstack" in msg
        assert e.value.code == ErrorCode.NO_SUPPORT
    finally:
        conn.close()


def test_cli_on_this_host_says_so_without_a_traceback():
    env = dict(os.environ, XVIRT_DEFAULT_URI="xen:///")
    r = subprocess.run([sys.executable, "-m", "xvirt.cli.main", "list"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode != 0
    assert "not a Xen dom0" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_not_root_is_refused_before_any_library_is_loaded(tmp_path):
    dev = tmp_path / "privcmd"
    dev.write_bytes(b"")
    with pytest.raises(NoConnectError) as e:
        xenctrl.XenctrlReader(privcmd=str(dev), euid=1000, library="/nonexistent/libxenctrl.so")
    assert "needs root" in e.value.message and "uid 1000" in e.value.message


def test_missing_library_is_named(tmp_path):
    dev = tmp_path / "privcmd"
    dev.write_bytes(b"")
    with pytest.raises(NoConnectError) as e:
        xenctrl.XenctrlReader(privcmd=str(dev), euid=0, library=str(tmp_path / "libxenctrl.so.4.17"))
    assert "cannot load libxenctrl" in e.value.message


def test_unknown_xen_version_is_refused_and_the_handle_closed():
    fake = FakeXc([_info(0)], version=(4, 99))
    with pytest.raises(NoSupportError) as e:
        xenctrl.XenctrlReader(lib=fake)
    assert "Xen 4.99" in e.value.message and fake.closed == 1 and fake.calls == []


def test_validating_one_id_is_one_hypercall():
    fake = FakeXc([_info(0), _info(3), _info(7)])
    r = xenctrl.XenctrlReader(lib=fake)
    assert (r.version, r.extra) == ((4, 17), ".5")
    got = r.info(3)
    assert got == _info(3) and r.reads == 1 and fake.calls == [("getinfolist", 3, 1)]
    assert r.info(4) is None and r.reads == 2          # the hypervisor answered with id 7
    assert r.info(8) is None and r.reads == 3
    assert r.info(-1) is None and r.info(0x7FF0) is None and r.reads == 3   # no call for impossible ids
    assert r.is_alive()
    r.close()
    assert fake.closed == 1 and not r.is_alive()
    with pytest.raises(NoConnectError):
        r.info(0)


def test_snapshot_pages_through_many_domains():
    fake = FakeXc([_info(i) for i in range(0, 300, 2)])          # 150 domains, buffer of 64
    r = xenctrl.XenctrlReader(lib=fake)
    ids = r.list_ids()
    assert ids == list(range(0, 300, 2))
    assert fake.calls == [("getinfolist", 0, 64), ("getinfolist", 127, 256)] and r.reads == 2
    r.list_ids()
    assert r.reads == 3                                           # the larger buffer is kept


def test_dying_records_and_handles():
    h = uuid.uuid4().bytes
    fake = FakeXc([_info(0), _info(2, dt.DYING, h), _info(5, dt.BLOCKED, h), _info(6, dt.DYING)])
    r = xenctrl.XenctrlReader(lib=fake)
    assert r.list_ids(skip_dying=True) == [0, 5] and r.list_ids() == [0, 2, 5, 6]
    assert r.find_handle(h).domid == 5                            # the live record wins
    assert r.find_handle(uuid.UUID(int=7).bytes).domid == 6       # only a dying one: it is returned
    assert r.find_handle(b"\1" * 16) is None


def test_physinfo_in_the_domain_table_shape():
    r = xenctrl.XenctrlReader(lib=FakeXc([_info(0)]))
    p = r.physinfo()
    assert (p.host_cpus, p.total_memory_mib, p.cpu_mhz, p.topology) == (8, 4096, 2400, (1, 2, 4, 1))
    assert len(p.boot_id) == 16 and r.boot_id() == p.boot_id and r.reads == 1


def test_hypercall_failure_is_a_xen_call_error():
    r = xenctrl.XenctrlReader(lib=FakeXc([_info(0)], fail_errno=errno.EACCES))
    with pytest.raises(XenCallError) as e:
        r.snapshot()
    assert "Permission denied" in e.value.message and e.value.code == ErrorCode.XEN_CALL


def test_xenstore_endpoint_probing(tmp_path, monkeypatch):
    a, b = tmp_path / "a.sock", tmp_path / "xenbus"
    monkeypatch.setattr("xvirt.uri.XENSTORE_PATHS", (str(a), str(b)))
    monkeypatch.delenv("XENSTORED_PATH", raising=False)
    assert parse_uri("xen:///").xenstore is None
    b.write_bytes(b"")
    assert parse_uri("xen:///").xenstore == str(b)
    a.write_bytes(b"")
    assert parse_uri("xen:///system").xenstore == str(a)
    env = tmp_path / "env.sock"
    monkeypatch.setenv("XENSTORED_PATH", str(env))
    assert parse_uri("xen:///").xenstore == str(a)               # set but missing: keep probing
    env.write_bytes(b"")
    t = parse_uri("xen:///")
    assert t.xenstore == str(env) and t.hypervisor == "xenctrl" and not t.xend_only
