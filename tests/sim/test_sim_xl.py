"""The simulated host's xl personality: libxl's xenstore layout, and `xl` with real xl's formats, messages and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xvirt.protocol import xl as xlp
from xvirt.testing import sim_host
from xvirt.transport.xenstore import XenstoreClient

DATA = Path(__file__).resolve().parents[1] / "data" / "realxen"
G1 = "3d1f85c3-2bb5-431f-95cf-fe7e71fc8577"
CFG = """name = "{name}"
uuid = "{uuid}"
memory = {memory}
vcpus = 1
kernel = "/opt/xenqemu/vmlinuz"
ramdisk = "/opt/xenqemu/guest-initrd.cpio.gz"
extra = "console=hvc0 loglevel=4"
on_crash = "preserve"
"""


@pytest.fixture(scope="module")
def host():
    with sim_host(domains=2, toolstack="xl", name="xl") as h:
        yield h


def xl(host, *args, check=True):
    r = subprocess.run([*host.xl_command, *args],
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"xl {' '.join(args)} -> {r.returncode}: {r.stderr}")
    return r


def create(host, tmp_path, name, uuid, memory=128):
    cfg = tmp_path / f"{name}.cfg"
    cfg.write_text(CFG.format(name=name, uuid=uuid, memory=memory))
    r = xl(host, "create", str(cfg))
    assert r.stderr == f"Parsing config from {cfg}\n"
    return next(d for d in host.control.truth()["running"] if d["uuid"] == uuid)


def walk(xs: XenstoreClient, path: str) -> dict[str, bytes]:
    out = {path: xs.read(path)}
    for child in xs.directory(path):
        out.update(walk(xs, f"{path.rstrip('/')}/{child}"))
    return out


def real_tree() -> dict[str, str]:
    tree = {}
    for line in (DATA / "xenstore-ls-fp.txt").read_text().splitlines():
        m = re.match(r'(/\S*) = "(.*)"   \(', line)
        tree[m.group(1)] = m.group(2)
    return tree


def generalise(paths, domid: int, uuid: str) -> set[str]:
    out = set()
    for p in paths:
        p = p.replace(uuid, "{uuid}")
        p = re.sub(rf"(?<=/){domid}(?=/|$)", "{id}", p)
        out.add(p)
    return out


def guest_paths(paths, domid: int, uuid: str) -> set[str]:
    mine = (f"/local/domain/{domid}", f"/vm/{uuid}", f"/libxl/{domid}", f"/local/domain/0/backend/console/{domid}")
    return generalise([p for p in paths if any(p == m or p.startswith(m + "/") for m in mine)], domid, uuid)


def test_no_xend_and_personality_recorded(host):
    assert not os.path.exists(host.paths.xend)
    assert json.loads(Path(host.paths.info).read_text())["toolstack"] == "xl"


def test_guest_xenstore_nodes_are_libxls(host, tmp_path):
    """A guest created like the capture's g1 has exactly the nodes libxl wrote for g1."""
    d = create(host, tmp_path, "layout-g1", "3d1f85c3-2bb5-431f-95cf-fe7e71fc8578")
    real = real_tree()
    xs = XenstoreClient(host.paths.xenstored)
    try:
        mine = {**walk(xs, "/local/domain"), **walk(xs, "/vm"), **walk(xs, "/libxl")}
        assert guest_paths(mine, d["domid"], d["uuid"]) == guest_paths(real, 1, G1)
        pre = f"/local/domain/{d['domid']}"
        for rel in ("/memory/target", "/memory/static-max", "/console/limit", "/console/type", "/store/port"):
            assert mine[pre + rel].decode() == real["/local/domain/1" + rel]
        assert mine[pre + "/vm"].decode() == f"/vm/{d['uuid']}"
        assert mine[f"/vm/{d['uuid']}/image/cmdline"].decode() == real[f"/vm/{G1}/image/cmdline"]
        assert mine[f"/libxl/{d['domid']}/type"] == b"pv"
        # dom0 and the host-wide nodes as on the real dom0
        dom0_real = {p for p in real if p.startswith("/local/domain/0") and "/backend" not in p}
        dom0_mine = {p for p in mine if p.startswith("/local/domain/0") and "/backend" not in p}
        assert dom0_mine == dom0_real
        assert xs.read("/local/pool/0/name") == b"Pool-0"
        xs.read("/tool/xenstored")
    finally:
        xs.close()
    xl(host, "destroy", str(d["domid"]))
    xs = XenstoreClient(host.paths.xenstored)
    try:
        left = {**walk(xs, "/local/domain"), **walk(xs, "/vm"), **walk(xs, "/libxl")}
        assert not guest_paths(left, d["domid"], d["uuid"])
    finally:
        xs.close()


def test_list_formats_as_real_xl(host):
    truth = {d["domid"]: d for d in host.control.truth()["running"]}
    for args, real in ((["list"], "xl-list.txt"), (["list", "-v"], "xl-list-v.txt")):
        out = xl(host, *args).stdout
        real_lines = (DATA / real).read_text().splitlines()
        lines = out.splitlines()
        assert lines[0] == real_lines[0]
        rows = xlp.parse_list(out)
        assert [r.domid for r in rows] == sorted(truth)
        for row, line in zip(rows, lines[1:]):
            t = truth[row.domid]
            assert (row.name, row.mem_mib, row.vcpus, row.state) == (t["name"], t["memory_kib"] // 1024,
                                                                   t["vcpus"], t["state"])
            # same column layout as the real dom0's line for Domain-0
            assert len(line) == len(real_lines[1]) or row.domid != 0
        if "-v" in args:
            assert [r.uuid for r in rows] == [truth[r.domid]["uuid"] for r in rows]


def test_list_long_has_libxls_json_shape(host):
    real = json.loads((DATA / "xl-list-l.json").read_text())
    mine = json.loads(xl(host, "list", "-l").stdout)
    assert [d["domid"] for d in mine] == [d["domid"] for d in host.control.truth()["running"]]
    for r, m in ((real[0], mine[0]), (real[1], mine[1])):
        assert set(m) == set(r) == {"domid", "config"}
        assert set(r["config"]["c_info"]) <= set(m["config"]["c_info"])
        assert set(r["config"]["b_info"]) - {"video_memkb", "claim_mode"} <= set(m["config"]["b_info"])
    guest = mine[1]["config"]
    t = host.control.truth()["running"][1]
    assert guest["c_info"]["uuid"] == t["uuid"] and guest["b_info"]["max_memkb"] == t["maxmem_kib"]


def test_info_has_real_keys_in_order(host):
    real_keys = list(xlp.parse_info((DATA / "xl-info.txt").read_text()))
    info = xlp.parse_info(xl(host, "info").stdout)
    assert list(info) == real_keys
    assert info["nr_cpus"] == str(host.control.truth()["host_cpus"])


def test_errors_and_exit_codes_as_captured(host):
    real = (DATA / "xl-errors.txt").read_text().splitlines()
    r = xl(host, "pause", "nosuch", check=False)
    assert (r.returncode, r.stderr.splitlines()) == (1, [real[1]])
    r = xl(host, "destroy", "99", check=False)
    assert (r.returncode, r.stderr.splitlines()) == (1, real[5:9])
    r = xl(host, "destroy", "0", check=False)
    assert r.returncode == 1 and r.stderr.startswith("Not destroying domain 0")
    r = xl(host, "no-such-subcommand", check=False)
    assert (r.returncode, r.stderr) == (1, "command not implemented\n")
    r = xl(host, "save", "1", check=False)
    assert r.returncode == 2 and "requires at least 2 arguments" in r.stderr
    r = xl(host, "mem-set", "1", "12q", check=False)
    assert r.returncode == 1 and "invalid memory size" in r.stderr


def test_lifecycle_through_xl(host, tmp_path):
    uuid = "0badc0de-0000-4000-8000-000000000001"
    d = create(host, tmp_path, "life", uuid, memory=96)
    domid = d["domid"]

    def now():
        return next((x for x in host.control.truth()["running"] if x["uuid"] == uuid), None)

    xl(host, "pause", "life")
    assert now()["state"] == "--p---"
    xl(host, "unpause", str(domid))
    assert "p" not in now()["state"]
    xl(host, "mem-set", "life", "64m")
    assert now()["memory_kib"] == 64 * 1024
    xl(host, "mem-max", "life", "200000k")
    assert now()["maxmem_kib"] == 196 * 1024  # rounded up to whole MiB by the host
    r = xl(host, "mem-set", "life", "1g", check=False)
    assert r.returncode == 1 and r.stderr.startswith("libxl: error:")
    xl(host, "rename", "life", "life2")
    assert now()["name"] == "life2" and now()["domid"] == domid
    r = xl(host, "rename", "life2", "Domain-0", check=False)
    assert r.returncode == 1 and 'domain with name "Domain-0" already exists.' in r.stderr
    assert r.stderr.endswith("Can't rename domain 'life2'.\n")
    xl(host, "save", "life2", "life.img")
    assert now() is None
    r = xl(host, "restore", "life.img")
    assert r.stderr.startswith("Loading new save file life.img")
    assert now()["domid"] != domid and now()["name"] == "life2"
    before = now()["domid"]
    r = xl(host, "reboot", "life2")
    assert r.stderr == f"Rebooting domain {before}\n"
    host.control.settle()
    assert now() is not None and now()["domid"] != before
    running_as = now()["domid"]
    r = xl(host, "shutdown", "-w", "life2")
    assert r.stderr.startswith(f"Shutting down domain {running_as}\n")
    host.control.settle()
    assert now() is None
    r = xl(host, "restore", "missing.img", check=False)
    assert (r.returncode, r.stderr) == (1, "Can't open restore file: No such file or directory\n")


def test_create_refuses_a_used_name(host, tmp_path):
    name = host.control.truth()["running"][1]["name"]
    cfg = tmp_path / "dup.cfg"
    cfg.write_text(CFG.format(name=name, uuid="0badc0de-0000-4000-8000-000000000002", memory=64))
    r = xl(host, "create", str(cfg), check=False)
    assert r.returncode == 1 and f'Domain with name "{name}" already exists.' in r.stderr
    bad = tmp_path / "bad.cfg"
    bad.write_text('name = "x\nmemory = [[[')
    r = xl(host, "create", str(bad), check=False)
    assert r.returncode == 1 and "Failed to parse config" in r.stderr


def test_every_run_is_counted_on_the_host(host):
    host.control.reset_counters()
    xl(host, "list")
    xl(host, "list", "-v")
    xl(host, "pause", "nosuch", check=False)
    c = host.control.counters()
    assert c["xl"] == {"list": 2, "pause": 1} and c["xl_total"] == 3 and c["xend_total"] == 0


def test_xl_without_a_running_host_fails_like_xl_without_xen(tmp_path):
    r = subprocess.run([sys.executable, "-m", "xvirt.sim.xl", "--root", str(tmp_path), "list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.endswith("cannot init xl context\n")
