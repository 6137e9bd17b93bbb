"""`xvirt list`, `xvirt top -b`, an exporter scrape and the facade examples on real Xen, `xl list` the truth."""

import os
import re
import subprocess
import sys
import urllib.request

from conftest import bracketed, run, wait_for, xl_list

CHECKOUT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
XVIRT = [sys.executable, "-m", "xvirt.cli.main", "-c", "xen:///"]


def test_xvirt_list_matches_xl(guests):
    out = run(*XVIRT, "list").stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(\S.*?)\s*$", line)
        if m:
            rows[m.group(2)] = int(m.group(1))
    assert rows == {d.name: d.id for d in xl_list().values()}, out


def test_xvirt_top_batch_shows_every_domain(guests):
    r = run(*XVIRT, "top", "-b", "-n", "2", "-d", "0.5")
    truth = xl_list()
    for d in truth.values():
        assert re.search(rf"\b{re.escape(d.name)}\b", r.stdout), (d.name, r.stdout)
    assert r.stdout.count("\n") > 2 * len(truth)


def test_exporter_scrape_matches_xl(guests):
    p = subprocess.Popen(XVIRT + ["exporter", "--listen", "127.0.0.1:9177"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        def scrape():
            try:
                return urllib.request.urlopen("http://127.0.0.1:9177/metrics", timeout=10).read().decode()
            except OSError:
                if p.poll() is not None:
                    raise AssertionError(f"exporter exited: {p.stdout.read().decode()}")
                return None
        wait_for(scrape, "the exporter's /metrics")
        text, truth = bracketed(scrape)
        assert re.search(r"^libvirt_up 1(\.0)?$", text, re.M), text
        for d in truth.values():
            m = re.search(rf'^libvirt_domain_info_memory_usage_bytes{{[^}}]*domain="{re.escape(d.name)}"[^}}]*}} (\S+)$',
                          text, re.M)
            assert m and float(m.group(1)) == d.mem_mib * 1024 * 1024, (d, text)
            m = re.search(rf'^xvirt_domain_id{{[^}}]*domain="{re.escape(d.name)}"[^}}]*}} (\S+)$', text, re.M)
            assert m and float(m.group(1)) == d.id
    finally:
        p.terminate()
        p.wait(10)


def test_facade_example_list_domains_matches_xl(guests):
    r, truth = bracketed(lambda: run(sys.executable, "-m", "xvirt.libvirt",
                                     os.path.join(CHECKOUT, "examples", "list_domains.py"), "xen:///"))
    rows = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if f and f[0].isdigit():
            rows[f[1]] = (int(f[0]), int(f[4]))
    assert rows == {d.name: (d.id, d.mem_mib * 1024) for d in truth.values()}, r.stdout
