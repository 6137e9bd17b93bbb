"""The ``xvirt top`` command: batch, stream, CSV, JSON and script modes, and the live ``rich`` view.

The live view reads single keys with the terminal in cbreak mode: ``P M T N F`` sort by cpu, mem,
time, id and name (virt-top's keys), space samples now, ``q`` quits; Ctrl-C quits as cleanly (the
terminal is restored either way). Key handling is the pure function :func:`handle_key`.
"""

from __future__ import annotations

import os
import select
import sys
import time
from dataclasses import dataclass

import click

from ..errors import LibvirtError
from .session import CommandError, Session, session_of
from .top import (SORT_KEYS, Frame, Sampler, csv_header, csv_row, frame_json, host_facts,
                  render_text, row_cells, ROW_HEADS, run_loop, sort_rows, summary_lines)

__all__ = ["top_cmd", "ViewState", "handle_key", "SORT_BY_KEY", "live_renderable"]

SORT_BY_KEY = {"P": "cpu", "M": "mem", "T": "time", "N": "id", "F": "name"}


@dataclass
class ViewState:
    sort: str = "cpu"
    quit: bool = False
    message: str = ""


def handle_key(state: ViewState, key: str) -> str | None:
    """Apply one key press; returns "quit", "redraw" (same sample, new order), "sample" or None."""
    if key in ("q", "Q", "\x03", "\x04"):
        state.quit = True
        return "quit"
    sort = SORT_BY_KEY.get(key.upper()) if len(key) == 1 else None
    if sort is not None:
        state.sort, state.message = sort, f"sorted by {sort}"
        return "redraw"
    if key in (" ", "\r", "\n"):
        return "sample"
    if key in ("h", "?"):
        state.message = "keys: P cpu, M mem, T time, N id, F name, space refresh, q quit"
        return "redraw"
    state.message = f"unknown key {key!r} (h for help)"
    return "redraw"


def live_renderable(frame: Frame, state: ViewState, max_rows: int | None = None):
    """The live screen: summary lines, a rich table of domains sorted per ``state``, a status line."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    lines = summary_lines(frame)
    if frame.warmup:
        lines.append("warm-up sample: %CPU is shown from the next sample")
    tbl = Table(box=None, pad_edge=False, header_style="reverse", expand=False)
    heads = ROW_HEADS
    sorted_col = {"cpu": "%CPU", "mem": "%MEM", "time": "TIME", "id": "ID", "name": "NAME"}[state.sort]
    for h in heads:
        tbl.add_column(h + ("*" if h == sorted_col else ""), justify="left" if h in ("S", "NAME") else "right",
                       no_wrap=True)
    rows = sort_rows(frame.rows, state.sort)
    for r in rows[:max_rows] if max_rows else rows:
        tbl.add_row(*row_cells(r))
    status = state.message or "P M T N F sort, space refresh, q quit"
    return Group(Text("\n".join(lines)), Text(""), tbl, Text(""), Text(status, style="dim"))


def run_live(sampler: Sampler, state: ViewState, *, delay: float, iterations: int | None,
             on_sample=None, feed=None) -> int:
    """The interactive view until ``q``, Ctrl-C or ``iterations`` samples (``on_sample`` sees each frame).

    With an event ``feed`` (cli/event_feed.py) a domain event makes the next sample at once."""
    import termios
    import tty

    from rich.console import Console
    from rich.live import Live
    console = Console()
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    done = 0
    try:
        tty.setcbreak(fd)
        frame = sampler.sample()
        done = 1
        if on_sample is not None:
            on_sample(frame)

        def view():
            return live_renderable(frame, state, max(1, console.size.height - 9))
        with Live(view(), console=console, screen=True, auto_refresh=False, transient=True) as live:
            live.refresh()
            deadline = time.monotonic() + delay
            while iterations is None or done < iterations:
                fds = [fd] if feed is None else [fd, feed.fd]
                ready, _, _ = select.select(fds, [], [], max(0.0, deadline - time.monotonic()))
                if feed is not None and feed.fd in ready:
                    feed.drain()   # a domain changed: sample now, not at the end of the interval
                    ev = feed.last
                    if ev is not None:
                        total = sum(feed.snapshot().values())
                        state.message = f"event: {ev.name} {ev.event_name} {ev.detail_name} ({total} events)"
                    deadline = time.monotonic()
                    ready = [r for r in ready if r != feed.fd]
                if ready:
                    data = os.read(fd, 16).decode("utf-8", "replace")
                    action = None
                    for key in data:
                        action = handle_key(state, key) or action
                        if state.quit:
                            break
                    if state.quit:
                        break
                    if action == "sample":
                        deadline = time.monotonic()
                    live.update(view(), refresh=True)
                    continue
                try:
                    frame = sampler.sample()
                    if feed is None or not state.message.startswith("event:"):
                        state.message = ""
                    if on_sample is not None:
                        on_sample(frame)
                except LibvirtError as e:
                    state.message = f"error: {e}"
                done += 1
                deadline += delay
                if deadline < time.monotonic():
                    deadline = time.monotonic() + delay
                live.update(view(), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    return 0


@click.command("top")
@click.option("-c", "--connect", "uri", metavar="URI", help="Hypervisor connection URI.")
@click.option("-d", "--delay", type=click.FloatRange(min=0.05), default=3.0, show_default=True,
              help="Seconds between samples.")
@click.option("-n", "--iterations", type=click.IntRange(min=1), help="Stop after this many samples.")
@click.option("-o", "--sort", type=click.Choice(SORT_KEYS), default="cpu", show_default=True, help="Sort order.")
@click.option("-b", "--batch", is_flag=True, help="Batch mode: text frames on stdout, keys ignored.")
@click.option("--stream", is_flag=True, help="Send all output to stdout (no full-screen view).")
@click.option("--csv", "csv_file", metavar="FILE", help="Also write virt-top's wide CSV to FILE ('-': stdout).")
@click.option("--script", is_flag=True, help="No text output at all (use with --csv and -n).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample on stdout.")
@click.option("-a", "--all", "include_inactive", is_flag=True,
              help="Also count inactive domains (asks XenD once per sample).")
@click.pass_context
def top_cmd(ctx, uri, delay, iterations, sort, batch, stream, csv_file, script, as_json, include_inactive):
    """Monitor domains like virt-top: one bulk sample per interval, no XenD request for running domains."""
    parent = session_of(ctx)
    session = Session(uri, parent.readonly) if uri else parent
    try:
        code = _top(session, delay, iterations, sort, batch, stream, csv_file, script, as_json, include_inactive)
    except CommandError as e:
        for line in e.lines:
            click.echo(f"error: {line}", err=True)
        code = 1
    finally:
        if session is not parent:
            session.close()
    ctx.exit(code)


def _top(session, delay, iterations, sort, batch, stream, csv_file, script, as_json, include_inactive) -> int:
    conn = session.conn
    sampler = Sampler(conn, host_facts(conn), include_inactive=include_inactive)
    csv_out, hostname = None, ""
    if csv_file:
        if csv_file == "-":
            csv_out = sys.stdout
        else:
            try:
                csv_out = open(csv_file, "w", encoding="utf-8", newline="")
            except OSError as e:
                raise CommandError(f"cannot write {csv_file}: {e.strerror or e}") from None
        try:
            hostname = conn.hostname()
        except LibvirtError:
            hostname = ""
        csv_out.write(csv_header())
        csv_out.flush()
    live = not (batch or stream or script or as_json or csv_file == "-") and sys.stdin.isatty() \
        and sys.stdout.isatty()

    def write_csv(frame: Frame) -> None:
        if csv_out is not None:
            csv_out.write(csv_row(frame, hostname))
            csv_out.flush()
    try:
        if live:
            from .event_feed import EventFeed
            feed = EventFeed(conn)
            try:
                return run_live(sampler, ViewState(sort=sort), delay=delay, iterations=iterations,
                                on_sample=write_csv, feed=feed)
            finally:
                feed.close()
        first = [True]

        def on_frame(frame: Frame) -> None:
            write_csv(frame)
            if as_json:
                sys.stdout.write(frame_json(frame))
            elif not script and csv_file != "-":
                sys.stdout.write(("" if first[0] else "\n") + render_text(frame, sort))
            first[0] = False
            sys.stdout.flush()
        return run_loop(sampler.sample, on_frame, iterations=iterations, delay=delay,
                        on_error=lambda e: click.echo(f"error: {e}", err=True))
    except KeyboardInterrupt:
        return 0
    finally:
        if csv_out is not None and csv_out is not sys.stdout:
            csv_out.close()
