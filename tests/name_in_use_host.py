"""The host the three name-in-use test files (client, facade, cli) refuse names on, its XML, and
the fixtures they import (``path``: which way the library reaches it; ``simhost``: that host,
shadowing the shared ``simhost`` fixture in those modules)."""

import uuid as _uuid

import pytest

import xvirt
from xvirt.testing import sim_host

# strict three-channel URI, XenD-only URI, libxl toolstack (xl and no XenD)
PATHS = ["strict", "xend-only", "libxl"]

XML = """<domain type='xen'><name>{name}</name><uuid>{uuid}</uuid><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


@pytest.fixture(params=PATHS)
def path(request) -> str:
    return request.param


@pytest.fixture
def simhost(path):
    """A host with 4 running guests; on libxl also one domain xvirt keeps defined (xl has none)."""
    with sim_host(domains=4, toolstack="xl" if path == "libxl" else "xend") as host:
        if path == "libxl":
            with xvirt.open(host.uri) as c:
                c.define_xml(XML.format(name="kept-01", uuid=_uuid.uuid4()))
        yield host
