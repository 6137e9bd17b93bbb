"""Fixtures for the libvirt-compatible facade: the module, a connection on the simulated host, truth helpers."""

import pytest

import xvirt.libvirt as libvirt


@pytest.fixture(autouse=True)
def _default_error_handler():
    """Every test starts and ends with libvirt's default error handler and no last error."""
    libvirt.registerErrorHandler(None, None)
    libvirt.virResetLastError()
    yield
    libvirt.registerErrorHandler(None, None)
    libvirt.virResetLastError()


@pytest.fixture
def conn(simhost):
    c = libvirt.open(simhost.uri)
    yield c
    if c._o is not None:
        c.close()
