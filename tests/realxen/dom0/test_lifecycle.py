"""Lifecycle through xvirt on the libxl toolstack of a real dom0, `xl list` the truth.

create from domain XML, pause/resume, set memory, rename, save/restore, shutdown, destroy, and
define/start/undefine (inactive domains kept in xvirt's config directory). Each operation's `xl`
calls are counted exactly; reads stay at 0 toolstack calls.
"""

import os

import pytest

from conftest import GUEST_MEM, XL_SLOW, guest_cfg, wait_for, wait_ready, xl_list

from xvirt.constants import DomainState as S
from xvirt.errors import NoDomainError


def _xml(conn, name):
    with open(guest_cfg(name)) as f:
        return conn.domain_xml_from_native("xen-xl", f.read())


def _xl_calls(conn):
    return conn.request_counts()["xl_total"]


def test_the_toolstack_is_libxl(conn):
    assert conn.request_counts()["toolstack"] == "libxl"


def test_create_pause_setmem_rename_save_restore_destroy(conn):
    dom = conn.create_xml(_xml(conn, "lc1"))
    try:
        truth = wait_for(lambda: xl_list().get("lc1"), "lc1 created")
        assert dom.id == truth.id and dom.name == "lc1" and truth.mem_mib == GUEST_MEM
        wait_ready(["lc1"])
        reads = conn.request_counts()["xl"]
        dom.info(), dom.state(), conn.lookup_by_name("lc1"), conn.list_domain_ids()
        assert conn.request_counts()["xl"] == reads                   # reads: no xl call

        n = _xl_calls(conn)
        dom.suspend()
        assert _xl_calls(conn) == n + 1 and "p" in xl_list()["lc1"].state and dom.state()[0] == S.PAUSED
        dom.resume()
        assert _xl_calls(conn) == n + 2 and "p" not in xl_list()["lc1"].state

        dom.set_memory(64 * 1024)
        wait_for(lambda: xl_list()["lc1"].mem_mib == 64, "lc1 ballooned to 64 MiB", timeout=XL_SLOW)
        assert dom.info()[2] == 64 * 1024

        dom.rename("lc1b")
        assert "lc1b" in xl_list() and dom.name == "lc1b" and conn.lookup_by_name("lc1b") == dom
        with pytest.raises(NoDomainError):
            conn.lookup_by_name("lc1")

        old = dom.id
        dom.save("/tmp/lc1.save")
        wait_for(lambda: "lc1b" not in xl_list(), "lc1b saved")
        assert dom.state()[0] == S.SHUTOFF and old not in conn.list_domain_ids()
        conn.restore("/tmp/lc1.save")
        new = wait_for(lambda: xl_list().get("lc1b"), "lc1b restored", timeout=XL_SLOW).id
        assert new != old and dom.id == new and dom.name == "lc1b"

        n = _xl_calls(conn)
        dom.destroy()
        assert _xl_calls(conn) == n + 1
        wait_for(lambda: "lc1b" not in xl_list(), "lc1b destroyed")
        with pytest.raises(NoDomainError):
            conn.lookup_by_name("lc1b")
    finally:
        for n in ("lc1", "lc1b"):
            if n in xl_list():
                os.system(f"xl destroy {n}")


def test_define_start_shutdown_undefine(conn):
    dom = conn.define_xml(_xml(conn, "lc2"))
    try:
        assert "lc2" in conn.list_defined_domains() and "lc2" not in xl_list()
        assert dom.state()[0] == S.SHUTOFF and dom.is_persistent() and dom.id == -1
        dom.create()
        truth = wait_for(lambda: xl_list().get("lc2"), "lc2 started", timeout=XL_SLOW)
        assert dom.id == truth.id and dom.is_active() and "lc2" not in conn.list_defined_domains()
        wait_ready(["lc2"])
        n = _xl_calls(conn)
        dom.shutdown()
        assert _xl_calls(conn) == n + 1
        wait_for(lambda: "lc2" not in xl_list(), "lc2 shut down", timeout=XL_SLOW)
        assert "lc2" in conn.list_defined_domains() and dom.state()[0] == S.SHUTOFF
        dom.undefine()
        assert "lc2" not in conn.list_defined_domains()
        with pytest.raises(NoDomainError):
            conn.lookup_by_name("lc2")
    finally:
        if "lc2" in xl_list():
            os.system("xl destroy lc2")
