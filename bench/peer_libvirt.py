"""The peer: libvirt 9's test driver through a private, unprivileged libvirtd, measured on the same workloads.

Parent side (the benchmark's own interpreter): install the Debian packages when missing and
allowed, write a test-driver node file per N holding the same domains as the simulated host
(names, UUIDs, sizes; Domain-0 becomes an ordinary running domain), start ``libvirtd`` with a
private configuration (unix socket in a temp dir, ``auth none``, no TCP/TLS, ``XDG_RUNTIME_DIR``
and ``HOME`` in the temp dir; as user ``nobody`` when we are root), run the child, stop the
daemon by its pid and remove the temp dir.

Child side (``/usr/bin/python3 -m bench.peer_libvirt --child SPEC OUT``: Debian's
``python3-libvirt`` imports only under the system interpreter; stdlib and ``bench.workloads``
only): connects with ``test+unix:///<node.xml>?socket=<sock>`` and runs W1-W4 with the shared
workload code. RPCs are counted by the session wrapper from the calls it makes (the Python
binding's ``listDomainsID`` is two RPCs, NUM_OF_DOMAINS and LIST_DOMAINS; ``lookupByID``,
``info`` and ``getAllDomainStats`` one each; ``name()``/``UUIDString()`` none; opening four),
which an RPC trace (``LIBVIRT_LOG_FILTERS=1:rpc.netclient``) confirmed. Every connection to a node
file gets its own copy of the driver, so W4's churn runs on the measured connection (another
thread), and the truth is the churn's log of id changes (``workloads.History``), checked against
``listAllDomains`` at the end. The test driver keeps a domain's id across ``reboot`` and renames
only inactive domains, so "rename" is destroy, rename, start (a new id).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape

__all__ = ["available", "ensure_installed", "LibvirtDaemon", "write_node_xml", "run_peer"]

SYSTEM_PYTHON = "/usr/bin/python3"
LIBVIRTD = "/usr/sbin/libvirtd"
PACKAGES = ("libvirt-daemon", "python3-libvirt", "libvirt-clients")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- parent side ---------------------------------------------------------------------------------
def available() -> tuple[bool, str]:
    if not os.path.exists(LIBVIRTD):
        return False, f"{LIBVIRTD} not installed"
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt; print(libvirt.getVersion())"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{SYSTEM_PYTHON} cannot run: {e}"
    if out.returncode != 0:
        return False, f"python3-libvirt does not import under {SYSTEM_PYTHON}"
    v = int(out.stdout.strip() or 0)
    return True, f"libvirt {v // 1000000}.{v // 1000 % 1000}.{v % 1000}"


def ensure_installed(allow_install: bool) -> tuple[bool, str]:
    """Install the peer's Debian packages if missing, through scripts/apt-install (which says what
    it installs and keeps libvirtd's service from starting: the benchmark runs its own)."""
    ok, why = available()
    if ok or not allow_install:
        return ok, why
    print(f"bench: installing Debian packages for the libvirt peer: {' '.join(PACKAGES)}", file=sys.stderr)
    r = subprocess.run([os.path.join(REPO, "scripts", "apt-install"), *PACKAGES], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"apt-install failed: {(r.stderr or r.stdout).strip()[-300:]}"
    return available()


def write_node_xml(path: str, truth: dict) -> int:
    """A test-driver node file with the simulated host's domains; returns the running count."""
    ns = "http://libvirt.org/schemas/domain/test/1.0"
    lines = ["<node>", "  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>"
             "<sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>", "  <memory>67108864</memory>"]

    def dom(d: dict, extra: str = "") -> str:
        return (f"  <domain type='test' xmlns:test='{ns}'><name>{escape(d['name'])}</name><uuid>{d['uuid']}</uuid>"
                f"<memory>{d['maxmem_kib']}</memory><currentMemory>{d['memory_kib']}</currentMemory>"
                f"<vcpu>{d.get('max_vcpus', d.get('vcpus', 1))}</vcpu><os><type>xen</type></os>{extra}</domain>")
    for d in truth["running"]:
        lines.append(dom(d))
    for d in truth["inactive"]:
        lines.append(dom(d, "<test:runstate>5</test:runstate>"))
    lines.append("</node>")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)
    return len(truth["running"])


class LibvirtDaemon:
    """A private libvirtd on a unix socket in a temp dir; stopped by its pid."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="xvlv")
        self.proc: subprocess.Popen | None = None
        self.socket = os.path.join(self.dir, "run", "libvirt-sock")

    def path(self, *parts: str) -> str:
        return os.path.join(self.dir, *parts)

    def __enter__(self) -> "LibvirtDaemon":
        for sub in ("run", "home", "work"):
            os.makedirs(self.path(sub), exist_ok=True)
        with open(self.path("libvirtd.conf"), "w") as f:
            f.write(f'unix_sock_dir = "{self.path("run")}"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    'unix_sock_rw_perms = "0777"\nunix_sock_ro_perms = "0777"\n'
                    'listen_tcp = 0\nlisten_tls = 0\nlog_outputs = "3:stderr"\n')
        cmd = [LIBVIRTD, "-f", self.path("libvirtd.conf")]
        if os.geteuid() == 0:  # libvirtd as root would be the privileged system daemon: run it as nobody
            shutil.chown(self.dir, "nobody", "nogroup")
            for root, dirs, files in os.walk(self.dir):
                for n in dirs + files:
                    shutil.chown(os.path.join(root, n), "nobody", "nogroup")
            os.chmod(self.dir, 0o755)
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": self.path("home"), "XDG_RUNTIME_DIR": self.path("home")}
        log = open(self.path("libvirtd.log"), "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"libvirtd did not start; see {self.path('libvirtd.log')}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def run_peer(daemon: LibvirtDaemon, spec: dict, timeout: float = 3600) -> dict:
    """Run the child on ``spec`` (node files, workloads, budget ...) and return its results."""
    spec_path, out_path = daemon.path("work", "spec.json"), daemon.path("work", "out.json")
    with open(spec_path, "w") as f:
        json.dump({**spec, "socket": daemon.socket, "workdir": daemon.path("work")}, f)
    if os.geteuid() == 0:
        shutil.chown(daemon.path("work"), "nobody", "nogroup")
    r = subprocess.run([SYSTEM_PYTHON, "-m", "bench.peer_libvirt", "--child", spec_path, out_path],
                       cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"libvirt child failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    with open(out_path) as f:
        return json.load(f)


# -- child side ----------------------------------------------------------------------------------
def _child(spec_path: str, out_path: str) -> int:
    import libvirt  # only under the system interpreter
    from bench import workloads
    from bench.peer_churn import LibvirtChurn, LibvirtSession
    from bench.workloads import rep_policy

    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    with open(spec_path) as f:
        spec = json.load(f)
    budget, quick = float(spec["budget_s"]), bool(spec.get("quick"))
    results: list[dict] = []
    for item in spec["hosts"]:
        n, node = item["n"], item["node_xml"]
        uri = f"test+unix://{node}?socket={spec['socket']}"
        w1_median = None
        for wl in spec["workloads"]:
            cell = {"n": n, "workload": wl}
            if wl in ("W2", "W4") and w1_median is not None and 5 * w1_median > budget:
                cell["skipped"] = (f"predicted {5 * w1_median:.0f} s (5 x the measured W1 median "
                                   f"{w1_median:.1f} s) > {budget:.0f} s budget")
                results.append(cell)
                continue
            reps: list[dict] = []
            while True:
                reps.append(_one(libvirt, workloads, LibvirtChurn, LibvirtSession, uri, wl, spec))
                if len(reps) >= rep_policy(reps[0]["seconds"], quick, wl):
                    break
            times = [r["seconds"] for r in reps]
            times_sorted = sorted(times)
            cell.update(reps=len(reps), times_s=times, median_s=times_sorted[len(times) // 2] if len(times) % 2
                        else (times_sorted[len(times) // 2 - 1] + times_sorted[len(times) // 2]) / 2,
                        min_s=min(times), max_s=max(times), **{k: v for k, v in reps[0].items() if k != "seconds"})
            if wl == "W1":
                w1_median = cell["median_s"]
            results.append(cell)
    with open(out_path, "w") as f:
        json.dump({"version": libvirt.getVersion(), "results": results}, f)
    return 0


def _one(libvirt, workloads, Churn, Session, uri: str, wl: str, spec: dict) -> dict:
    t0 = time.perf_counter()
    s = Session(libvirt, uri)
    open_s = time.perf_counter() - t0
    open_rpcs = s.rpcs
    mark: dict = {}
    kw: dict = {}
    churn = None
    extra: dict = {}
    if wl == "W4":
        churn = Churn(libvirt, s.conn, spec["workdir"])
        kw = {"step": churn.step, "holder": lambda i: churn.history.holders(i, time.monotonic(), time.monotonic()),
              "history": churn.history, "signature": churn.signature, "staleness": 0.0}
        churn.start_background(float(spec.get("churn_rate", 0)))
    try:
        seconds, detail = workloads.run(s, wl, mark=lambda: mark.setdefault("rpcs", s.rpcs), **kw)
        rpcs = s.rpcs - mark["rpcs"]
    finally:
        if churn is not None:
            churn.stop_background()
    if churn is not None:
        extra = {"history_matches_daemon": churn.history.final() == churn.mapping(), "churn": churn.summary()}
    s.close()
    return {"seconds": seconds, "open_s": open_s, "open_rpcs": open_rpcs, "rpcs": rpcs, "detail": detail, **extra}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2], sys.argv[3]))
    print("usage: python3 -m bench.peer_libvirt --child SPEC OUT (run by python3 -m bench)", file=sys.stderr)
    sys.exit(2)
