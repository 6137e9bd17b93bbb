"""Benchmark on real Xen: ``python3 -m bench realxen [--reps N] [--out DIR]`` (root; not part of CI).

Boots the cached Xen 4.17 image (realxen/image.py) once; in dom0 starts libvirtd (libvirt's libxl
driver, as tests of the libvirt peer do), creates g1..g3 through libvirt (libvirt does not see
domains `xl` made; xvirt and `xl` see every domain), then runs bench/realxen_dom0.py: W1/W2/W3 for
xvirt, `xl list` / `xl list -l` and libvirt on the same domains, per-call costs and xvirt's exact
request counts per channel. Writes DIR/realxen.md and DIR/realxen.json (default bench/results).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

DOM0 = r"""
set -e
cd /run/xenqemu/checkout
export PYTHONPATH=$PWD/src:$PWD HOME=/root
mkdir -p /run/libvirt /var/lib/libvirt/libxl /var/log/libvirt/libxl /run/libvirt/libxl /var/lib/libvirt/libxl/save /etc/libvirt
groupadd -r libvirt-qemu 2>/dev/null || true; useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu 2>/dev/null || true
groupadd -r libvirt 2>/dev/null || true
virtlogd -d
LIBVIRT_LOG_OUTPUTS="3:file:/tmp/libvirtd.log" libvirtd >/tmp/libvirtd.stderr 2>&1 &
n=0; until virsh -c xen:/// list >/dev/null 2>&1 || [ $n -ge 60 ]; do sleep 1; n=$((n+1)); done
for i in 1 2 3; do sed -e "s/^name = .*/name = \"g$i\"/" -e 's/^memory = .*/memory = 96/' /opt/xenqemu/guest.cfg > /tmp/g$i.cfg; done
virsh -c xen:/// domxml-from-native xen-xl /tmp/g1.cfg > /tmp/tmpl.xml
for i in 1 2 3; do sed -e "s/<name>g1</<name>g$i</" -e "/<uuid>/d" /tmp/tmpl.xml > /tmp/g$i.xml; virsh -c xen:/// create /tmp/g$i.xml >/dev/null; done
n=0; while [ $(virsh -c xen:/// list | grep -c ' g[123] ') -lt 3 ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
sleep 5
xl list
python3 -m bench.realxen_dom0 REPS
"""


def _image():
    spec = importlib.util.spec_from_file_location("xvirt_realxen_image", os.path.join(REPO, "realxen", "image.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def ratio(a: dict, b: dict) -> str:
    return f"{a['median_ms'] / b['median_ms']:.1f}x" if b["median_ms"] else "-"


def commit() -> str:
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def write_report(R: dict, out: str, *, boot_s: float, reps: int) -> str:
    W, P, C, M = R["workloads"], R["percall"], R["counts"], R["meta"]
    lines = [
        "# xvirt on real Xen: W1/W2/W3 against `xl` and libvirt's libxl driver",
        "",
        f"Xen {M['xen']} + Debian 12 dom0 (2 vCPUs, 1 GiB) under QEMU TCG (`-cpu Nehalem`), booted by",
        f"`python3 -m bench realxen` (xvirt {commit()}, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC,",
        f"boot + measurement {boot_s:.0f} s). {M['domains']} domains (Domain-0 + g1..g3, PV, 96 MiB,",
        "created through libvirt so that all three clients see them). libvirt "
        f"{M['libvirt'] // 1000000}.{M['libvirt'] // 1000 % 1000}.{M['libvirt'] % 1000} (libvirtd with the libxl "
        f"driver), python {M['python']} in dom0; medians of {reps} runs (10x for per-call rows).",
        "The emulated CPU makes absolute times meaningless: **compare ratios within this run only.**",
        "",
        "Workloads (docs/benchmarks.md): W1 `virsh list` on a fresh connection (open, list ids, lookup",
        "by id, info, name, close); W2 the monitor loop (5 x list ids -> lookup by id -> info) on a warm",
        "connection; W3 one bulk stats call on a fresh connection, W3w on a warm one. `xl list` is a",
        "whole process per call (it is how scripts ask); for W2 it runs 5 times. libvirt's libxl driver",
        f"has no getAllDomainStats: its W3 is `{M['libvirt_W3']}`.",
        "",
        "| workload | xvirt | libvirt (libxl) | xl list | xl list -l | libvirt / xvirt | xl list / xvirt |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in ("W1", "W2", "W3", "W3w"):
        row = W[w]
        x = row["xvirt"]
        cells = [f"{row[k]['median_ms']:.2f} ms" if k in row else "-" for k in ("xvirt", "libvirt", "xl list", "xl list -l")]
        xl_ref = row.get("xl list") or row.get("xl list -l")
        lines.append(f"| {w} | " + " | ".join(cells) + f" | {ratio(row['libvirt'], x)} | "
                     + (ratio(xl_ref, x) if xl_ref else "-") + " |")
    lines += ["", "Per call (warm connection, the busiest guest):", "",
              "| call | xvirt | libvirt | libvirt / xvirt |", "|---|---|---|---|"]
    for k, row in P.items():
        lines.append(f"| {k} | {row['xvirt']['median_ms']:.3f} ms | {row['libvirt']['median_ms']:.3f} ms | "
                     f"{ratio(row['libvirt'], row['xvirt'])} |")
    lines += ["", "xvirt's requests per channel (exact, from the connection's counters):", "",
              "| workload | toolstack (XenD/xl) | xenstore | hypervisor calls |", "|---|---|---|---|"]
    for k, c in C.items():
        lines.append(f"| {k} | {c['toolstack']} | {c['xenstore']} | {c['hypervisor']} |")
    lines += ["", f"Domains seen: xvirt ids {M['xvirt_ids']}, libvirt ids {M['libvirt_ids']}, names {M['names']}.",
              "", "Raw numbers: realxen.json beside this file."]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "realxen.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "realxen.json"), "w") as f:
        json.dump(dict(R, boot_seconds=round(boot_s, 1), reps=reps, commit=commit()), f, indent=1)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m bench realxen", description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20, help="repetitions per workload (default 20)")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="output directory (default bench/results)")
    p.add_argument("--timeout", type=float, default=1800, help="longest the boot may take, seconds")
    a = p.parse_args(argv)
    image = _image()
    res = image.boot(DOM0.replace("REPS", str(int(a.reps))), timeout=a.timeout)
    found = [l for l in res.output.splitlines() if l.startswith("XVIRT_BENCH_RESULT ")]
    if res.rc != 0 or not found:
        print(res.output[-6000:], file=sys.stderr)
        print(f"real-Xen benchmark failed (rc={res.rc})", file=sys.stderr)
        return 1
    R = json.loads(found[-1].split(" ", 1)[1])
    print(f"wrote {write_report(R, a.out, boot_s=res.seconds, reps=a.reps)}")
    return 0
