"""A real HTTP client (curl over the unix socket) against the simulated XenD on a small fake host."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from xvirt.protocol import sxp
from xvirt.sim.xend_server import XendServer

UUID = "6c3a1f2e-8b0d-4c8e-9f41-0d5e7a2b9c11"


class XendOpError(Exception):
    """Recognised by the server by its class name, like xvirt.sim.host.XendOpError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Dom:
    def __init__(self, domid: int, name: str, uuid: str) -> None:
        self.domid, self.name, self.uuid, self.paused = domid, name, uuid, False


class TinyHost:
    """Just enough of the host-model interface for these requests."""

    def __init__(self) -> None:
        self.doms = [Dom(0, "Domain-0", "00000000-0000-0000-0000-000000000000"),
                     Dom(7, "fc5", UUID)]

    def node_sxpr(self):
        return ["node", ["system", "Linux"], ["xen_major", 3], ["xen_minor", 0]]

    def domain_names(self, state="running"):
        return sorted(d.name for d in self.doms if state == "all" or (d.paused == (state == "paused")))

    def domain_records(self, state="running"):
        return [self.domain_sxpr(d) for d in self.doms if not d.paused]

    def lookup(self, ref):
        for key in ("name", "domid", "uuid"):
            for d in self.doms:
                if str(getattr(d, key)) == ref:
                    return d
        return None

    def domain_sxpr(self, d):
        return ["domain", ["domid", d.domid], ["uuid", d.uuid], ["name", d.name],
                ["state", "--p---" if d.paused else "-b----"]]

    def op_pause(self, d):
        d.paused = True

    def op_shutdown(self, d, reason):
        raise XendOpError(f"Invalid reason: {reason}")


@pytest.fixture
def sock(tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is required for the real-client tests (apt-get install curl)")
    path = str(tmp_path / "xend.sock")
    if len(path) > 100:
        path = os.path.join(tempfile.mkdtemp(prefix="xv", dir="/tmp"), "xend.sock")
    host = TinyHost()
    srv = XendServer(host, path)
    srv.start()
    yield path
    srv.stop()


def curl(sock: str, path: str, *args: str) -> tuple[int, bytes]:
    """Run curl; return (HTTP status, body). ``Accept: application/sxp`` is what makes xend
    answer a browser-like client (one sending User-Agent and Accept) in SXP."""
    with tempfile.NamedTemporaryFile() as out:
        proc = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "--unix-socket", sock, "-H", "Accept: application/sxp",
             "-o", out.name, "-w", "%{http_code}", *args, f"http://localhost{path}"],
            capture_output=True, timeout=30)
        assert proc.returncode == 0, proc.stderr.decode()
        return int(proc.stdout), open(out.name, "rb").read()


def test_list(sock):
    code, body = curl(sock, "/xend/domain")
    assert code == 200 and sxp.parse(body) == ["Domain-0", "fc5"]


def test_detail(sock):
    code, body = curl(sock, "/xend/domain?detail=1")
    recs = sxp.parse(body)
    assert code == 200 and [sxp.child_value(r, "name") for r in recs] == ["Domain-0", "fc5"]


@pytest.mark.parametrize("ref", ["7", "fc5", UUID])
def test_lookup_by_id_name_uuid(sock, ref):
    code, body = curl(sock, f"/xend/domain/{ref}?detail=1")
    assert code == 200
    rec = sxp.parse(body)
    assert (sxp.child_value(rec, "domid"), sxp.child_value(rec, "uuid")) == ("7", UUID)


def test_post_op(sock):
    code, body = curl(sock, "/xend/domain/fc5", "-d", "op=pause")
    assert (code, body) == (200, b"")
    code, body = curl(sock, "/xend/domain/fc5")
    assert sxp.child_value(sxp.parse(body), "state") == "--p---"
    code, body = curl(sock, "/xend/domain?state=paused")
    assert sxp.parse(body) == ["fc5"]


def test_unknown_domain_404(sock):
    assert curl(sock, "/xend/domain/nosuch") == (404, b"No domain named 'nosuch'.")
    assert curl(sock, "/xend/domain/nosuch", "-d", "op=pause")[0] == 404


def test_xend_err_is_500(sock):
    code, body = curl(sock, "/xend/domain/fc5", "-d", "op=shutdown", "-d", "reason=sleep")
    assert code == 500 and sxp.parse(body) == ["xend.err", "Invalid reason: sleep"]
    assert curl(sock, "/xend/domain/fc5", "-d", "op=fly")[0] == 501
    assert curl(sock, "/xend/domain/fc5", "-X", "DELETE")[0] == 501
    assert curl(sock, "/xend/domain/fc5", "-d", "op=x&config=" + "a" * 10001)[0] == 413
