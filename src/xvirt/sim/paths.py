"""Where a simulated host keeps its files, and which directories it may use (no process code).

Shared by the client library (which only needs socket paths) and the simulator's own process
code; importing it starts nothing and imports nothing beyond the standard library.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..errors import InvalidArgError

__all__ = ["DEFAULT_NAME", "MARKER", "SimPaths", "state_dir", "sim_uri", "env_lines", "check_state_dir",
           "prepare_state_dir"]

DEFAULT_NAME = "default"   # the embedded default host: the only one started on demand
MARKER = ".xvirt-sim"      # present in every state directory the simulator created or adopted


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or name in (".", "..") \
            or len(name) > 64:
        raise InvalidArgError(f"invalid simulated host name {name!r}")
    return name


def state_dir(name: str = DEFAULT_NAME) -> str:
    check_name(name)
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base) and os.access(base, os.W_OK):
        return os.path.join(base, "xvirt", "sim", name)
    return os.path.join(os.path.expanduser("~"), ".local", "state", "xvirt", "sim", name)


@dataclass(frozen=True)
class SimPaths:
    root: str

    @property
    def xend(self) -> str:
        return os.path.join(self.root, "xend.sock")

    @property
    def xenstored(self) -> str:
        return os.path.join(self.root, "xenstored.sock")

    @property
    def xenstored_ro(self) -> str:
        return os.path.join(self.root, "xenstored_ro.sock")

    @property
    def control(self) -> str:
        return os.path.join(self.root, "control.sock")

    @property
    def domtable(self) -> str:
        return os.path.join(self.root, "domtable")

    @property
    def relocation(self) -> str:
        """XenD's relocation service of the simulated host (``sim/relocation.py``), mode 0600."""
        return os.path.join(self.root, "relocation.sock")

    @property
    def stats(self) -> str:
        """Per-domain device counters (``xvirt.protocol.devstats``), one file per running domain."""
        return os.path.join(self.root, "stats")

    @property
    def managed(self) -> str:
        return os.path.join(self.root, "managed")

    @property
    def save(self) -> str:
        return os.path.join(self.root, "save")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.root, "sim.pid")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "sim.log")

    @property
    def settings(self) -> str:
        """The settings the host was created with (kept across stops: every start uses them)."""
        return os.path.join(self.root, "sim.json")

    @property
    def info(self) -> str:
        """What the running process reports about itself (pid, start time, ...); gone when it stops."""
        return os.path.join(self.root, "run.json")

    @property
    def marker(self) -> str:
        return os.path.join(self.root, MARKER)


def sim_uri(name: str = DEFAULT_NAME, root: str | None = None) -> str:
    """The connection URI of a simulated host (``?dir=`` when it lives outside the default place)."""
    return f"xen+sim:///{name}" if root is None else f"xen+sim:///{name}?dir={root}"


def env_lines(name: str = DEFAULT_NAME, root: str | None = None) -> list[str]:
    paths = SimPaths(root or state_dir(name))
    return [f"export XENSTORED_PATH={paths.xenstored}",
            f"export XENSTORED_RO_PATH={paths.xenstored_ro}",
            f"export XEND_SOCKET={paths.xend}",
            f"export XVIRT_SIM_CONTROL={paths.control}",
            f"export XVIRT_DEFAULT_URI={sim_uri(name, root)}"]


def check_state_dir(root: str) -> bool:
    """Whether ``root`` may hold a simulated host; False if it does not exist yet.

    An existing directory is used only if it is a real directory owned by this user, not writable
    by anyone else, and either the simulator's own (it holds the marker file) or empty. Nothing here
    changes a directory's mode: a directory that fails the test is refused as it is.
    """
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise InvalidArgError(f"state directory {root!r} (URI parameter 'dir'): {e.strerror or e}") from None
    why = None
    if not stat.S_ISDIR(st.st_mode):
        why = "it is not a directory"
    elif st.st_uid != os.geteuid():
        why = "it belongs to another user"
    elif stat.S_IMODE(st.st_mode) & 0o022:
        why = f"it is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    elif not os.path.exists(os.path.join(root, MARKER)) and os.listdir(root) and not _legacy(root):
        why = "it is not empty and was not created by xvirt's simulated host"
    if why:
        raise InvalidArgError(f"refusing state directory {root!r} (URI parameter 'dir'): {why}")
    return True


def _legacy(root: str) -> bool:
    """A state directory made by a simulator from before the marker file: its table and configs."""
    return os.path.isfile(os.path.join(root, "domtable")) and os.path.isdir(os.path.join(root, "managed")) \
        and os.path.isfile(os.path.join(root, "sim.log"))


def prepare_state_dir(root: str) -> None:
    """Create ``root`` (mode 0700) or adopt an acceptable existing one, and mark it as ours."""
    if not check_state_dir(root):
        parent = os.path.dirname(os.path.abspath(root))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        try:
            os.mkdir(root, 0o700)
        except FileExistsError:  # created meanwhile: check it like any existing one
            check_state_dir(root)
    marker = os.path.join(root, MARKER)
    if not os.path.exists(marker):
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
