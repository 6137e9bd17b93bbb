"""The exporter against the real Prometheus tools (Debian package ``prometheus``): promtool and a server.

A real ``xvirt exporter`` process serves a simulated host; ``promtool check metrics`` must accept a
scrape, and a real Prometheus server on loopback (own config and data dir, 1 s scrape interval)
must see ``libvirt_up == 1``, one ``libvirt_domain_info_virtual_cpus`` series per running domain,
and lose a domain's series once the domain is destroyed. The server is stopped at teardown.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from prometheus_client.parser import text_string_to_metric_families


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package 'prometheus' (apt-get install prometheus)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


@pytest.fixture
def exporter(simhost):
    """A real ``xvirt exporter`` process on a free loopback port; yields its port."""
    proc = subprocess.Popen([sys.executable, "-m", "xvirt.cli.main", "exporter", "-c", simhost.uri,
                             "--listen", "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stderr.readline()
        assert "serving http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def _metrics(port: int) -> dict:
    out: dict = {}
    for fam in text_string_to_metric_families(_http(f"http://127.0.0.1:{port}/metrics").decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.mark.simhost(domains=6)
def test_promtool_accepts_a_scrape(exporter):
    body = _http(f"http://127.0.0.1:{exporter}/metrics")
    result = subprocess.run([_tool("promtool"), "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", (result.stdout + result.stderr).decode()
    assert b"libvirt_domain_info_virtual_cpus{" in body


@pytest.mark.simhost(domains=6)
def test_two_concurrent_scrapes_cost_one_sample(simhost, exporter):
    _metrics(exporter)
    simhost.control.faults(xs_delay=0.4)  # one collection now takes a while: the scrapes overlap
    try:
        before = _metrics(exporter)["xvirt_exporter_collections_total"][0][1]
        results: list = []
        barrier = threading.Barrier(2)

        def scrape():
            barrier.wait()
            results.append(_metrics(exporter))
        threads = [threading.Thread(target=scrape) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        simhost.control.faults(xs_delay=0.0)
    after = [r["xvirt_exporter_collections_total"][0][1] for r in results]
    assert after == [before + 1, before + 1]  # both scrapes were served by the same single sample
    assert results[0]["libvirt_domain_info_cpu_time_seconds_total"] == \
        results[1]["libvirt_domain_info_cpu_time_seconds_total"]


def _query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    doc = json.loads(_http(url))
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def _wait_for(fn, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


@pytest.fixture
def prometheus(exporter, tmp_path):
    """A real Prometheus server scraping the exporter every second; yields its port."""
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: xvirt\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter}']\n")
    data = tmp_path / "data"
    data.mkdir()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        def ready():
            if proc.poll() is not None:
                raise AssertionError("prometheus exited: " + (tmp_path / "prometheus.log").read_text())
            try:
                return _http(f"http://127.0.0.1:{port}/-/ready", timeout=1) is not None
            except OSError:
                return False
        _wait_for(ready)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.simhost(domains=6)
def test_real_prometheus_scrapes_the_exporter(simhost, prometheus):
    up = _wait_for(lambda: [r for r in _query(prometheus, "libvirt_up") if r["value"][1] == "1"])
    assert len(up) == 1
    running = simhost.control.truth()["running"]
    vcpus = _wait_for(lambda: _query(prometheus, "libvirt_domain_info_virtual_cpus"))
    by_domain = {r["metric"]["domain"]: r for r in vcpus}
    assert len(vcpus) == len(running) == len(by_domain)                    # one series per running domain
    for d in running:
        series = by_domain[d["name"]]
        assert series["metric"]["uuid"] == d["uuid"]
        assert int(float(series["value"][1])) == d["vcpus"]
    simhost.control.op("destroy", "db-01")
    gone = _wait_for(lambda: (lambda rs: rs if "db-01" not in {r["metric"]["domain"] for r in rs} else [])(
        _query(prometheus, "libvirt_domain_info_virtual_cpus")))
    assert {r["metric"]["domain"] for r in gone} == {d["name"] for d in running} - {"db-01"}
    assert _query(prometheus, 'libvirt_domain_info_memory_usage_bytes{domain="db-01"}') == []
