"""The ``xvirt`` command line: a virsh-compatible group of commands plus top, exporter, sim and demo.

``main()`` is the console entry point. Usage errors are reported as virsh does
(``error: unknown command: 'x'``, ``error: command 'list' doesn't support option --foo``) with exit
status 1 and nothing on stdout.
"""

from __future__ import annotations

import sys

import click

from . import commands_domctl, commands_domstats, commands_event, commands_host, commands_misc, commands_ops, commands_read
from .commands_top import top_cmd
from .session import Session

__all__ = ["cli", "main"]


class VirshGroup(click.Group):
    """A click group that reports usage errors in virsh's words and keeps commands in help order."""

    def list_commands(self, ctx):
        return list(self.commands)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name or "xvirt", complete_var=complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.NoSuchOption as e:
            cmd = e.ctx.command.name if e.ctx is not None and e.ctx.command is not self else None
            msg = (f"command '{cmd}' doesn't support option {e.option_name}" if cmd
                   else f"unsupported option '{e.option_name}'. See --help.")
            code = _fail(msg)
        except click.exceptions.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:  # bare `xvirt` / `xvirt sim`
                click.echo(e.ctx.get_help())
                code = 0
            else:
                code = _fail(_usage_message(e))
        except click.exceptions.Abort:
            code = 1
        except click.exceptions.Exit as e:
            code = e.exit_code
        except click.ClickException as e:
            code = _fail(e.format_message())
        if standalone_mode:
            sys.exit(code or 0)
        return code

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and name not in self.commands and not name.startswith("-"):
            raise _UnknownCommand(name, ctx=ctx)
        return super().resolve_command(ctx, args)


class _UnknownCommand(click.UsageError):
    def __init__(self, name: str, ctx=None) -> None:
        super().__init__(f"unknown command: '{name}'", ctx=ctx)


def _usage_message(e: click.UsageError) -> str:
    if isinstance(e, _UnknownCommand):
        return e.message
    cmd = e.ctx.command.name if e.ctx is not None and e.ctx.command is not None else None
    if isinstance(e, click.exceptions.MissingParameter) and cmd and e.param is not None:
        return f"command '{cmd}' requires <{e.param.name}> option"
    return e.format_message()


def _fail(message: str) -> int:
    click.echo(f"error: {message}", err=True)
    return 1


@click.group(cls=VirshGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--connect", "uri", metavar="URI", envvar="XVIRT_DEFAULT_URI",
              help="Hypervisor connection URI (default: $XVIRT_DEFAULT_URI, else xen:/// if XenD runs "
                   "here, else xen+sim:///default).")
@click.option("-r", "--readonly", is_flag=True, help="Connect read-only.")
@click.version_option(package_name="xvirt", prog_name="xvirt", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, uri: str | None, readonly: bool) -> None:
    """Manage Xen domains like virsh, watch them like virt-top, export them to Prometheus."""
    session = ctx.ensure_object(Session)
    session.uri, session.readonly = uri or None, readonly
    ctx.call_on_close(session.close)


for _command in (commands_read.COMMANDS + commands_host.COMMANDS + commands_ops.COMMANDS + [top_cmd]
                 + commands_misc.COMMANDS + commands_event.COMMANDS + commands_domstats.COMMANDS
                 + commands_domctl.COMMANDS):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return cli.main(args=argv, prog_name="xvirt")


if __name__ == "__main__":  # pragma: no cover
    main()
