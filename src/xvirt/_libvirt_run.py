"""Run an unmodified ``import libvirt`` program against xvirt: ``python -m xvirt.libvirt PROGRAM.py [ARGS...]``.

The runner makes ``libvirt`` an alias of ``xvirt.libvirt`` in ``sys.modules`` (and ``libvirt_qemu``,
``libvirt_lxc`` of xvirt's modules of those names), so they win over an installed libvirt-python
for this process only, then runs the program as ``__main__`` with its
own ``sys.argv`` and ``sys.path[0]``, as ``python PROGRAM.py`` would. ``--shim-path`` prints a
directory that does the same through ``PYTHONPATH`` for programs started some other way.
"""

from __future__ import annotations

import os
import runpy
import sys

__all__ = ["main", "install", "shim_path"]

USAGE = """\
usage: python -m xvirt.libvirt PROGRAM.py [ARGS...]
       python -m xvirt.libvirt -m MODULE [ARGS...]
       python -m xvirt.libvirt --shim-path

Runs a program written for libvirt-python (`import libvirt`) against xvirt's libvirt-compatible
module. --shim-path prints a directory to put on PYTHONPATH for the same effect.
"""


def install() -> None:
    """Make ``import libvirt`` (and ``libvirt_qemu``, ``libvirt_lxc``) return xvirt's modules in this process."""
    import xvirt.libvirt as facade
    import xvirt.libvirt_lxc as lxc
    import xvirt.libvirt_qemu as qemu
    import xvirt.libvirtaio as aio
    sys.modules["libvirt"] = facade
    sys.modules["libvirt_qemu"] = qemu
    sys.modules["libvirt_lxc"] = lxc
    sys.modules["libvirtaio"] = aio


def shim_path() -> str:
    """The directory holding the ``libvirt.py`` stand-in."""
    from . import _libvirt_shim
    return os.path.dirname(os.path.abspath(_libvirt_shim.__file__))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE) if args else sys.stderr.write(USAGE)
        return 0 if args else 2
    if args[0] == "--shim-path":
        print(shim_path())
        return 0
    install()
    if args[0] == "-m":
        if len(args) < 2:
            sys.stderr.write(USAGE)
            return 2
        sys.argv = [args[1], *args[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return 0
    program = args[0]
    if not os.path.isfile(program):
        sys.stderr.write(f"xvirt.libvirt: can't open file {program!r}: no such file\n")
        return 2
    sys.argv = [program, *args[1:]]
    sys.path[0] = os.path.dirname(os.path.abspath(program))
    runpy.run_path(program, run_name="__main__")
    return 0
