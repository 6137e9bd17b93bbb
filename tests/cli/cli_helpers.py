"""Helpers for the CLI tests: run ``xvirt`` in-process and virsh 9's rules written independently."""

from __future__ import annotations

from click.testing import CliRunner

from xvirt.cli.main import cli

STATE_WORDS = {"r": "running", "b": "idle", "p": "paused", "c": "crashed", "s": "shut off", "d": "in shutdown"}


def state_word(xend_state: str) -> str:
    """virsh's word for a XenD state string such as ``-b----`` (priority c, s, d, p, b, r)."""
    for ch in "csdpbr":
        if ch in xend_state:
            return STATE_WORDS[ch]
    return "no state"


def virsh_table(header: list[str], rows: list[list[str]]) -> str:
    """virsh 9's table, written from reference §3.1 independently of xvirt.cli.format."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = []
    for cells in [header] + rows:
        parts = [" " + str(c).ljust(widths[i]) + "  " for i, c in enumerate(cells[:-1])]
        lines.append("".join(parts) + " " + str(cells[-1]))
    rule = "-" * (sum(widths) + 3 * len(widths))
    return "\n".join([lines[0], rule] + lines[1:]) + "\n"


class Run:
    """Invoke the ``xvirt`` group in-process against one URI."""

    def __init__(self, uri: str | None) -> None:
        self.uri = uri
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict | None = None):
        argv = (["-c", self.uri] if self.uri else []) + [str(a) for a in args]
        return self.runner.invoke(cli, argv, env=env, catch_exceptions=False)


def running(host) -> list[dict]:
    return host.control.truth()["running"]


def inactive(host) -> list[dict]:
    return host.control.truth()["inactive"]
