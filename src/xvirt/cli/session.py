"""What every ``xvirt`` command shares: the lazy connection, domain resolution and virsh's error rules.

virsh rules kept here (reference/libvirt-api.md §3.1): errors go to stderr as ``error: <msg>`` with
exit status 1; one extra empty line goes to stdout after every command that ran, failed ones
included (not in ``--json`` mode, whose output is for programs); a domain argument is tried as
an id (digits only), then as a UUID, then as a name, and ``error: failed to get domain 'x'`` is
printed when none matches (followed by the library's message when the failure was not simply
"no such domain", e.g. XenD unreachable).
"""

from __future__ import annotations

import functools
import re

import click

from ..errors import InvalidArgError, LibvirtError, NoDomainError

__all__ = ["Session", "CommandError", "VirshCommand", "resolve_domain", "json_option", "emit",
           "session_of", "with_session"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class CommandError(Exception):
    """A command failure: one or more ``error:`` lines for stderr, exit status 1."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "error")
        self.lines = [line for line in lines if line]


class Session:
    """The options of one ``xvirt`` invocation and the connection, opened on first use."""

    def __init__(self, uri: str | None = None, readonly: bool = False) -> None:
        self.uri = uri
        self.readonly = readonly
        self._conn = None

    @property
    def conn(self):
        if self._conn is None:
            import xvirt.connection as connection
            try:
                self._conn = connection.open(self.uri, readonly=self.readonly)
            except LibvirtError as e:
                raise CommandError("failed to connect to the hypervisor", str(e)) from None
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def session_of(ctx: click.Context) -> Session:
    obj = ctx.find_object(Session)
    if obj is None:  # a command invoked on its own (tests): default session
        obj = ctx.ensure_object(Session)
    return obj


def resolve_domain(conn, ref: str, *, by_id: bool = True):
    """virshLookupDomainBy: id (whole string of digits), then UUID, then name.

    ``by_id=False`` is virsh's VIRSH_BYUUID|VIRSH_BYNAME (``start``: an inactive domain has no id).
    """
    ref = str(ref)
    problem: LibvirtError | None = None
    lookups = []
    if by_id and ref.isdigit():
        lookups.append(lambda: conn.lookup_by_id(int(ref)))
    if _UUID.match(ref):
        lookups.append(lambda: conn.lookup_by_uuid(ref))
    lookups.append(lambda: conn.lookup_by_name(ref))
    for lookup in lookups:
        try:
            return lookup()
        except (NoDomainError, InvalidArgError):
            pass
        except LibvirtError as e:
            problem = e
    raise CommandError(f"failed to get domain '{ref}'", str(problem) if problem else "")


def call(failure: str | None, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``'s result; a library error becomes virsh's pair of lines (``failure``, then the
    library's message), or the library's line alone when ``failure`` is None."""
    try:
        return fn(*args, **kwargs)
    except LibvirtError as e:
        raise CommandError(*([failure] if failure else []), str(e)) from None


def read_file(path: str) -> str:
    """A text file the user named (XML, native config): virsh's error line when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise CommandError(f"Failed to open file '{path}': {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CommandError(f"Failed to read file '{path}': not UTF-8 text") from None


class VirshCommand(click.Command):
    """A click command with virsh's error printing, exit status and trailing empty line."""

    def invoke(self, ctx: click.Context):
        json_mode = bool(ctx.params.get("as_json"))
        code = 0
        try:
            return super().invoke(ctx)
        except CommandError as e:
            for line in e.lines:
                click.echo(f"error: {line}", err=True)
            code = 1
        except LibvirtError as e:
            click.echo(f"error: {e}", err=True)
            code = 1
        finally:
            if not json_mode:
                click.echo("")
        ctx.exit(code)


def json_option(fn):
    """``--json``: print the command's result as JSON with stable keys instead of virsh's text."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys) instead of text.")(fn)


def emit(text: str) -> None:
    """Write command output exactly (no added newline)."""
    click.echo(text, nl=False)


def with_session(fn):
    """Pass the invocation's Session as the first argument."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(session_of(click.get_current_context()), *args, **kwargs)
    return wrapper
