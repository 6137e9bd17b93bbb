"""``xvirt exporter``: Prometheus metrics with kumina/libvirt_exporter's names, one bulk sample per scrape.

Theory of operation
-------------------
The collector is a ``prometheus_client`` custom collector: every scrape builds its metric families
from scratch, so a domain that is gone has no series at all in the next scrape (no stale labelled
gauges). A scrape asks a :class:`SingleFlight` for a sample; the single flight runs at most one
collection at a time (one ``get_all_domain_stats`` call, active domains only, no XenD request) in
a worker thread, and every scrape that arrives while it runs waits for that same sample: two
concurrent scrapes cost one sample, and slow collections never pile up. A scrape waits at most
``timeout`` seconds: after that it serves the last good sample if it is younger than ``max_age``
(its age is exported), else ``libvirt_up 0``. The collection that timed out keeps running, and
later scrapes join it rather than start another.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field

from ..constants import StatsFlags
from ..errors import InvalidArgError, LibvirtError

__all__ = ["SingleFlight", "CollectionTimeout", "DomainSample", "Sample", "Exporter", "LibvirtCollector",
           "parse_listen", "collect_sample"]


class CollectionTimeout(Exception):
    """The running collection did not finish within the scrape's time bound."""


class _Flight:
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result = None
        self.error: BaseException | None = None


class SingleFlight:
    """Runs ``fn`` in at most one worker at a time; callers during a run share its outcome."""

    def __init__(self, fn, *, timeout: float) -> None:
        self.fn, self.timeout = fn, timeout
        self._lock = threading.Lock()
        self._current: _Flight | None = None
        self.runs = 0

    def get(self):
        with self._lock:
            flight = self._current
            if flight is None:
                flight = self._current = _Flight()
                self.runs += 1
                threading.Thread(target=self._run, args=(flight,), name="xvirt-collect", daemon=True).start()
        if not flight.done.wait(self.timeout):
            raise CollectionTimeout(f"collection still running after {self.timeout:g}s")
        if flight.error is not None:
            raise flight.error
        return flight.result

    def _run(self, flight: _Flight) -> None:
        try:
            flight.result = self.fn()
        except BaseException as e:  # noqa: BLE001 - handed to every waiting scrape
            flight.error = e
        finally:
            with self._lock:
                self._current = None
            flight.done.set()


@dataclass(frozen=True)
class DomainSample:
    name: str
    uuid: str
    id: int
    state: int
    max_mem_kib: int
    mem_kib: int
    vcpus: int
    cpu_time_ns: int
    # (target, source path, rd bytes, rd reqs, wr bytes, wr reqs) per disk; (target, rx bytes,
    # rx packets, rx errors, rx drops, tx bytes, tx packets, tx errors, tx drops) per interface;
    # (vcpu number, state, time ns) per vCPU: the block.*, net.* and vcpu.* stats groups
    blocks: tuple = ()
    nets: tuple = ()
    vcpu_times: tuple = ()


def _groups(st: dict) -> tuple[tuple, tuple, tuple]:
    g = lambda k: int(st.get(k, 0))  # noqa: E731
    blocks = tuple((str(st.get(f"block.{i}.name", i)), str(st.get(f"block.{i}.path", "")),
                    g(f"block.{i}.rd.bytes"), g(f"block.{i}.rd.reqs"), g(f"block.{i}.wr.bytes"), g(f"block.{i}.wr.reqs"))
                   for i in range(g("block.count")))
    nets = tuple((str(st.get(f"net.{i}.name", i)), *(g(f"net.{i}.{k}") for k in NET_KEYS))
                 for i in range(g("net.count")))
    vcpus = tuple((i, g(f"vcpu.{i}.state"), g(f"vcpu.{i}.time")) for i in range(g("vcpu.current"))
                  if f"vcpu.{i}.time" in st)
    return blocks, nets, vcpus


NET_KEYS = ("rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop")
# kumina/libvirt_exporter's interface series, in NET_KEYS order
NET_METRICS = (("receive_bytes", "Number of bytes received on a network interface, in bytes."),
               ("receive_packets", "Number of packets received on a network interface."),
               ("receive_errors", "Number of packet receive errors on a network interface."),
               ("receive_drops", "Number of packet receive drops on a network interface."),
               ("transmit_bytes", "Number of bytes transmitted on a network interface, in bytes."),
               ("transmit_packets", "Number of packets transmitted on a network interface."),
               ("transmit_errors", "Number of packet transmit errors on a network interface."),
               ("transmit_drops", "Number of packet transmit drops on a network interface."))
BLOCK_METRICS = (("read_bytes", "Number of bytes read from a block device, in bytes."),
                 ("read_requests", "Number of read requests from a block device."),
                 ("write_bytes", "Number of bytes written to a block device, in bytes."),
                 ("write_requests", "Number of write requests to a block device."))


@dataclass
class Sample:
    domains: list[DomainSample]
    counts: dict
    duration: float
    taken_at: float = field(default_factory=time.monotonic)


def collect_sample(conn) -> Sample:
    """One bulk stats call for the active domains, plus the connection's request counters."""
    t0 = time.monotonic()
    doms = []
    for rec in conn.get_all_domain_stats(0, int(StatsFlags.ACTIVE)):
        if rec.name is None or rec.id is None or rec.id < 0:
            continue
        st = rec.stats
        mem = int(st.get("balloon.current", 0))
        doms.append(DomainSample(rec.name, rec.domain.uuid, rec.id, int(st.get("state.state", 0)),
                                 int(st.get("balloon.maximum", mem)), mem, int(st.get("vcpu.current", 0)),
                                 int(st.get("cpu.time", 0)), *_groups(st)))
    return Sample(doms, conn.request_counts(), time.monotonic() - t0, t0)


class Exporter:
    """Owns the connection (reopened after a failure), the single flight and the scrape statistics."""

    def __init__(self, uri: str | None = None, *, timeout: float = 10.0, max_age: float = 60.0,
                 connect=None, events: bool = True) -> None:
        import xvirt.connection as connection
        self.uri = uri
        self._connect = connect or (lambda: connection.open(uri, readonly=True))
        self._conn = None
        self._conn_lock = threading.Lock()
        self.timeout, self.max_age = timeout, max_age
        self.flight = SingleFlight(self._collect, timeout=timeout)
        self.last_good: Sample | None = None
        self.collections = 0
        self.errors = 0
        self.timeouts = 0
        self.scrapes = 0
        self._stats_lock = threading.Lock()
        self.feed = None               # domain events (cli/event_feed.py), when events=True
        self.events = events
        self.event_counts: dict[str, int] = {}

    def _watch(self, conn) -> None:
        """Count the connection's domain events (they survive a reconnection)."""
        if not self.events:
            return
        from .event_feed import EventFeed
        old, self.feed = self.feed, None
        if old is not None:
            for k, n in old.snapshot().items():
                self.event_counts[k] = self.event_counts.get(k, 0) + n
            old.close()
        self.feed = EventFeed(conn)

    def events_total(self) -> dict[str, int]:
        out = dict(self.event_counts)
        if self.feed is not None:
            for k, n in self.feed.snapshot().items():
                out[k] = out.get(k, 0) + n
        return out

    def _collect(self) -> Sample:
        with self._conn_lock:
            if self._conn is None:
                self._conn = self._connect()
                self._watch(self._conn)
            conn = self._conn
        self.collections += 1
        try:
            sample = collect_sample(conn)
        except LibvirtError:
            with self._conn_lock:  # reopen next time: the channels may have gone away
                if self._conn is conn:
                    self._conn = None
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
            raise
        self.last_good = sample
        return sample

    def get_sample(self) -> tuple[Sample | None, str | None]:
        """The sample for one scrape and, when there is none, why."""
        with self._stats_lock:
            self.scrapes += 1
        try:
            return self.flight.get(), None
        except CollectionTimeout as e:
            with self._stats_lock:
                self.timeouts += 1
            last = self.last_good
            feed = self.feed
            stale = feed is not None and feed.last_event_at >= (last.taken_at if last is not None else 0)
            if last is not None and time.monotonic() - last.taken_at <= self.max_age and not stale:
                return last, None   # an event since that sample would make it a lie: then none
            return None, str(e)
        except LibvirtError as e:
            with self._stats_lock:
                self.errors += 1
            return None, str(e)

    def close(self) -> None:
        with self._conn_lock:
            if self.feed is not None:
                self.feed.close()
                self.feed = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class LibvirtCollector:
    """The custom collector: fresh metric families from one shared sample per scrape."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def describe(self):
        return []  # no collection at registration time

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        t0 = time.monotonic()
        ex = self.exporter
        sample, _why = ex.get_sample()
        yield GaugeMetricFamily("libvirt_up", "Whether the hypervisor could be sampled (1) or not (0).",
                                value=1 if sample is not None else 0)
        if sample is not None:
            labels = ["domain", "uuid"]
            fams = {
                "max": GaugeMetricFamily("libvirt_domain_info_maximum_memory_bytes",
                                         "Maximum allowed memory of the domain, in bytes.", labels=labels),
                "mem": GaugeMetricFamily("libvirt_domain_info_memory_usage_bytes",
                                         "Memory usage of the domain, in bytes.", labels=labels),
                "vcpus": GaugeMetricFamily("libvirt_domain_info_virtual_cpus",
                                           "Number of virtual CPUs for the domain.", labels=labels),
                "cpu": CounterMetricFamily("libvirt_domain_info_cpu_time_seconds",
                                           "Amount of CPU time used by the domain, in seconds.", labels=labels),
                "state": GaugeMetricFamily("libvirt_domain_info_vstate",
                                           "Domain state as libvirt's number: 0 no state, 1 running, "
                                           "2 blocked, 3 paused, 4 shutting down, 5 shut off, 6 crashed, "
                                           "7 pmsuspended.", labels=labels),
                "id": GaugeMetricFamily("xvirt_domain_id", "Current Xen domain id of the domain (changes on "
                                        "save/restore, reboot and migration).", labels=labels),
            }
            dev_labels = ["domain", "uuid", "target_device"]
            blk = [CounterMetricFamily(f"libvirt_domain_block_stats_{n}", h, labels=dev_labels + ["source_file"])
                   for n, h in BLOCK_METRICS]
            net = [CounterMetricFamily(f"libvirt_domain_interface_stats_{n}", h, labels=dev_labels)
                   for n, h in NET_METRICS]
            vtime = CounterMetricFamily("libvirt_domain_vcpu_time_seconds", "Amount of CPU time used by the "
                                        "domain's vCPU, in seconds.", labels=labels + ["vcpu"])
            vstate = GaugeMetricFamily("libvirt_domain_vcpu_state", "vCPU state: 0 offline, 1 running, 2 blocked.",
                                       labels=labels + ["vcpu"])
            for d in sample.domains:
                for target, path, *values in d.blocks:
                    for fam, v in zip(blk, values):
                        fam.add_metric([d.name, d.uuid, target, path], v)
                for target, *values in d.nets:
                    for fam, v in zip(net, values):
                        fam.add_metric([d.name, d.uuid, target], v)
                for n, state, ns in d.vcpu_times:
                    vtime.add_metric([d.name, d.uuid, str(n)], ns / 1e9)
                    vstate.add_metric([d.name, d.uuid, str(n)], state)
            yield from (*blk, *net, vtime, vstate)
            for d in sample.domains:
                lv = [d.name, d.uuid]
                fams["max"].add_metric(lv, d.max_mem_kib * 1024)
                fams["mem"].add_metric(lv, d.mem_kib * 1024)
                fams["vcpus"].add_metric(lv, d.vcpus)
                fams["cpu"].add_metric(lv, d.cpu_time_ns / 1e9)
                fams["state"].add_metric(lv, d.state)
                fams["id"].add_metric(lv, d.id)
            yield from fams.values()
            req = CounterMetricFamily("xvirt_requests", "Requests this exporter's connection made, per channel.",
                                      labels=["channel"])
            counts = sample.counts
            req.add_metric(["xend"], counts.get("xend_total", 0))
            req.add_metric(["xenstore"], counts.get("xenstore_total", 0))
            req.add_metric(["hypervisor"], counts.get("hypervisor", 0))
            yield req
            xend = CounterMetricFamily("xvirt_xend_requests", "XenD requests this exporter's connection made, "
                                       "per endpoint.", labels=["request"])
            for key, n in sorted(counts.get("xend", {}).items()):
                xend.add_metric([key], n)
            yield xend
            yield GaugeMetricFamily("xvirt_exporter_sample_age_seconds", "Age of the sample served.",
                                    value=max(0.0, time.monotonic() - sample.taken_at - sample.duration))
            yield GaugeMetricFamily("xvirt_exporter_collection_duration_seconds",
                                    "How long the bulk sample served took to collect.", value=sample.duration)
        events = CounterMetricFamily("xvirt_events", "Domain events this exporter's connection received, "
                                     "by type (lifecycle event names, and reboot).", labels=["type"])
        for key, n in sorted(ex.events_total().items()):
            events.add_metric([key], n)
        yield events
        yield CounterMetricFamily("xvirt_exporter_collections", "Bulk samples taken (concurrent scrapes share one).",
                                  value=ex.collections)
        yield CounterMetricFamily("xvirt_exporter_scrapes", "Scrapes served.", value=ex.scrapes)
        yield CounterMetricFamily("xvirt_exporter_collection_errors", "Collections that failed.", value=ex.errors)
        yield CounterMetricFamily("xvirt_exporter_collection_timeouts",
                                  "Scrapes that waited longer than the collection time bound.", value=ex.timeouts)
        yield GaugeMetricFamily("xvirt_exporter_scrape_duration_seconds", "Duration of this scrape's collection "
                                "step, in seconds.", value=time.monotonic() - t0)


def parse_listen(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; empty host = 127.0.0.1) -> (host, port)."""
    host, sep, port = str(spec).rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InvalidArgError(f"invalid --listen {spec!r}: expected HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InvalidArgError(f"invalid --listen {spec!r}: {host!r} is not an IP address") from None
    return host, int(port)


def serve(exporter: Exporter, host: str, port: int):
    """Start the HTTP server (its own threads) on a registry holding only our collector.

    prometheus_client's WSGI app on the standard library's server: ``start_http_server`` returns
    the server only since prometheus_client 0.17 (Debian 12 ships 0.16).
    """
    import socket
    import threading
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    registry = CollectorRegistry(auto_describe=False)
    registry.register(LibvirtCollector(exporter))
    server = make_server(host, port, make_wsgi_app(registry), Server, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="xvirt-exporter-http", daemon=True)
    thread.start()
    return server, thread
