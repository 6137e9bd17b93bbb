"""The real-Xen benchmark's measuring half, run inside dom0: W1/W2/W3 for xvirt, `xl`, libvirt's libxl driver.

Started by bench/realxen.py (host side) after libvirtd is up and g1..g3 were created through
libvirt (libvirt does not see `xl`-created domains). Prints one ``XVIRT_BENCH_RESULT {json}`` line.
All three clients see the same domains of the same hypervisor in the same boot; only ratios
between them mean something (QEMU's emulated CPU makes absolute times meaningless).
"""

import json
import statistics
import subprocess
import sys
import time

import libvirt

import xvirt

URI = "xen:///"


def timeit(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return {"n": n, "median_ms": round(statistics.median(out) * 1e3, 3), "min_ms": round(min(out) * 1e3, 3),
            "max_ms": round(max(out) * 1e3, 3)}


def counted(conn, fn):
    """Requests per channel one call of ``fn`` makes on ``conn`` (exact, from the client's counters)."""
    a = conn.request_counts()
    fn()
    b = conn.request_counts()
    return {"xend": b["xend_total"] - a["xend_total"], "xenstore": b["xenstore_total"] - a["xenstore_total"],
            "hypervisor": b["hypervisor"] - a["hypervisor"],
            "toolstack": sum(_toolstack(b).values()) - sum(_toolstack(a).values())}


def _toolstack(c):
    out = {"xend": c.get("xend_total", 0)}
    for key in ("xl", "libxl", "toolstack"):
        v = c.get(key)
        if isinstance(v, dict):
            out[key] = sum(v.values())
        elif isinstance(v, int):
            out[key] = v
    return out


# -- xvirt ---------------------------------------------------------------------------------------
def x_w1_on(c):
    for i in c.list_domain_ids():
        d = c.lookup_by_id(i)
        d.info()
        d.name


def x_w1():
    c = xvirt.open(URI)
    x_w1_on(c)
    c.close()


def x_w2_pass(c):
    for i in c.list_domain_ids():
        c.lookup_by_id(i).info()


def x_w2(c):
    for _ in range(5):
        x_w2_pass(c)


def x_w3():
    c = xvirt.open(URI)
    c.get_all_domain_stats()
    c.close()


# -- libvirt (libxl driver through libvirtd) --------------------------------------------------------
def l_w1():
    c = libvirt.open(URI)
    for i in c.listDomainsID():
        d = c.lookupByID(i)
        d.info()
        d.name()
    c.close()


def l_w2_pass(c):
    for i in c.listDomainsID():
        c.lookupByID(i).info()


def l_w2(c):
    for _ in range(5):
        l_w2_pass(c)


def l_w3_on(c):
    try:
        c.getAllDomainStats()
        return "getAllDomainStats"
    except libvirt.libvirtError:      # not implemented by the libxl driver: its bulk equivalent
        [d.info() for d in c.listAllDomains()]
        return "listAllDomains+info"


def l_w3():
    c = libvirt.open(URI)
    l_w3_on(c)
    c.close()


def proc(*cmd):
    subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def main(reps=20):
    R = {"workloads": {}, "percall": {}, "counts": {}, "meta": {}}
    xc = xvirt.open(URI)
    lc = libvirt.open(URI)
    ids = xc.list_domain_ids()
    lids = sorted(lc.listDomainsID())
    R["meta"] = {"domains": len(ids), "xvirt_ids": ids, "libvirt_ids": lids,
                 "names": sorted(xc.lookup_by_id(i).name for i in ids),
                 "xen": ".".join(map(str, xc._driver.hv.version)) + xc._driver.hv.extra,
                 "libvirt": libvirt.getVersion(), "python": sys.version.split()[0]}
    gid = max(ids)
    x_w2(xc)
    l_w2(lc)                                         # warm both
    W = R["workloads"]
    W["W1"] = {"xvirt": timeit(x_w1, reps), "libvirt": timeit(l_w1, reps),
               "xl list": timeit(lambda: proc("xl", "list"), reps),
               "xl list -l": timeit(lambda: proc("xl", "list", "-l"), reps)}
    W["W2"] = {"xvirt": timeit(lambda: x_w2(xc), reps), "libvirt": timeit(lambda: l_w2(lc), reps),
               "xl list": timeit(lambda: [proc("xl", "list") for _ in range(5)], max(3, reps // 4))}
    W["W3"] = {"xvirt": timeit(x_w3, reps), "libvirt": timeit(l_w3, reps),
               "xl list -l": W["W1"]["xl list -l"]}
    W["W3w"] = {"xvirt": timeit(lambda: xc.get_all_domain_stats(), reps), "libvirt": timeit(lambda: l_w3_on(lc), reps)}
    R["meta"]["libvirt_W3"] = l_w3_on(lc)
    dom = xc.lookup_by_id(gid)
    ldom = lc.lookupByID(gid)
    P = R["percall"]
    P["lookup_by_id"] = {"xvirt": timeit(lambda: xc.lookup_by_id(gid), 10 * reps),
                         "libvirt": timeit(lambda: lc.lookupByID(gid), 10 * reps)}
    P["info"] = {"xvirt": timeit(dom.info, 10 * reps), "libvirt": timeit(ldom.info, 10 * reps)}
    P["W2 iteration"] = {"xvirt": timeit(lambda: x_w2_pass(xc), 5 * reps),
                         "libvirt": timeit(lambda: l_w2_pass(lc), 5 * reps)}
    P["open"] = {"xvirt": timeit(lambda: xvirt.open(URI).close(), reps),
                 "libvirt": timeit(lambda: libvirt.open(URI).close(), reps)}
    fresh = xvirt.open(URI)
    R["counts"] = {"W1 (fresh)": counted(fresh, lambda: x_w1_on(fresh)),
                   "W1 (warm)": counted(xc, lambda: x_w1_on(xc)),
                   "W2": counted(xc, lambda: x_w2(xc)),
                   "W3w": counted(xc, lambda: xc.get_all_domain_stats()),
                   "lookup_by_id": counted(xc, lambda: xc.lookup_by_id(gid)),
                   "info": counted(xc, dom.info)}
    fresh.close()
    xc.close()
    lc.close()
    print("XVIRT_BENCH_RESULT " + json.dumps(R), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
