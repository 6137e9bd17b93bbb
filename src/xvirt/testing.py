"""A pytest fixture (and context manager) that runs an isolated simulated Xen host for a test.

Each host gets its own short state directory under /tmp (unix socket paths must stay under 108
bytes), XenD latency 0 unless asked otherwise, and is stopped and removed afterwards.
``@pytest.mark.simhost(toolstack="xl")`` gives the host of a current Xen (no XenD; libxl's
xenstore layout; its ``xl`` is ``SimHost.xl_command``) so tests cover xvirt's libxl driver.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterator

from .sim import launcher
from .sim.control_client import SimControl
from .sim.paths import SimPaths, sim_uri

__all__ = ["SimHost", "sim_host", "simhost"]


@dataclass
class SimHost:
    name: str
    root: str
    control: SimControl
    toolstack: str = "xend"

    @property
    def paths(self) -> SimPaths:
        return SimPaths(self.root)

    @property
    def uri(self) -> str:
        return sim_uri(self.name, self.root)

    @property
    def xl_command(self) -> list[str]:
        """The argv prefix of this host's ``xl`` (an ``--toolstack xl`` host)."""
        return [sys.executable, "-m", "xvirt.sim.xl", "--root", self.root]

    def stop(self) -> None:
        self.control.close()
        launcher.stop(self.name, root=self.root)

    def restart(self, **kwargs) -> None:
        """Stop and start again on the same state directory, with the settings it was created with."""
        self.stop()
        kwargs.setdefault("toolstack", self.toolstack)
        launcher.start(self.name, root=self.root, **kwargs)


@contextlib.contextmanager
def sim_host(domains: int = 20, *, latency_ms: float = 0.0, name: str = "test", toolstack: str = "xend",
             **kwargs) -> Iterator[SimHost]:
    """``toolstack="xl"``: a host without XenD, libxl's xenstore layout, driven by its ``xl``."""
    root = tempfile.mkdtemp(prefix="xv")
    try:
        launcher.start(name, root=root, domains=domains, latency_ms=latency_ms, toolstack=toolstack, **kwargs)
        host = SimHost(name, root, SimControl(SimPaths(root).control), toolstack)
        try:
            yield host
        finally:
            host.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


try:
    import pytest
except ImportError:  # pragma: no cover - the library works without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture
    def simhost(request) -> Iterator[SimHost]:
        """An isolated simulated host; ``@pytest.mark.simhost(domains=N, ...)`` sets its options."""
        marker = request.node.get_closest_marker("simhost")
        options = dict(marker.kwargs) if marker else {}
        with sim_host(**options) as host:
            yield host
