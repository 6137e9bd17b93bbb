"""libvirtError and libvirt's error machinery: one hierarchy, libvirt's getters, handler and last error."""

import pytest

import xvirt.errors as xerrors
import xvirt.libvirt as libvirt

pytestmark = pytest.mark.simhost(domains=2)


def test_libvirt_error_is_the_xvirt_base_error():
    assert libvirt.libvirtError is xerrors.LibvirtError
    for cls in (xerrors.NoDomainError, xerrors.InvalidArgError, xerrors.OperationDeniedError,
                xerrors.XendError, xerrors.XenstoreError, xerrors.NoConnectError):
        assert issubclass(cls, libvirt.libvirtError)
    # programs raise it themselves with just a message, as with libvirt-python
    with pytest.raises(libvirt.libvirtError) as ei:
        raise libvirt.libvirtError("custom failure")
    assert str(ei.value) == "custom failure"


def test_getters_and_raw_tuple(conn):
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.lookupByName("nobody")
    e = ei.value
    assert isinstance(e, xerrors.NoDomainError)
    assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN == 42
    assert e.get_error_domain() == libvirt.VIR_FROM_DOM
    assert e.get_error_level() == libvirt.VIR_ERR_ERROR
    assert e.get_error_message() == str(e) and "nobody" in str(e)
    assert e.get_str1() == e.get_error_message() and e.get_str2() is None and e.get_str3() is None
    assert e.get_int1() == -1 and e.get_int2() == -1
    assert e.err == (42, libvirt.VIR_FROM_DOM, str(e), 2, str(e), None, None, -1, -1)
    assert all(type(x) in (int, str, type(None)) for x in e.err)


def test_default_handler_prints_like_libvirt(conn, capsys):
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName("nobody")
    err = capsys.readouterr().err
    assert err.startswith("libvirt: Domain error : Domain not found") and err.count("\n") == 1


def test_registered_handler_gets_each_error_once(conn, capsys):
    seen = []
    assert libvirt.registerErrorHandler(lambda ctx, err: seen.append((ctx, err)), "ctx") == 1
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.lookupByID(-1)
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByUUIDString("12345")
    assert [s[0] for s in seen] == ["ctx", "ctx"]
    assert seen[0][1] == ei.value.err and seen[0][1][0] == libvirt.VIR_ERR_INVALID_ARG
    assert seen[1][1][0] == libvirt.VIR_ERR_INVALID_ARG
    assert capsys.readouterr().err == ""      # a handler replaces the default printing
    libvirt.registerErrorHandler(None, None)
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName("nobody")
    assert len(seen) == 2 and "libvirt:" in capsys.readouterr().err


def test_handler_must_be_callable():
    with pytest.raises(TypeError):
        libvirt.registerErrorHandler(42, None)


def test_last_error(conn):
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    assert libvirt.virGetLastError() is None
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.lookupByName("nobody")
    assert libvirt.virGetLastError() == ei.value.err
    libvirt.virResetLastError()
    assert libvirt.virGetLastError() is None


def test_open_failure_is_reported(simhost):
    seen = []
    libvirt.registerErrorHandler(lambda ctx, err: seen.append(err), None)
    with pytest.raises(libvirt.libvirtError) as ei:
        libvirt.open("bogus://nowhere/")
    assert seen == [ei.value.err]


def test_event_registration_failures_are_libvirt_errors(conn):
    """Events are delivered (tests/facade/test_facade_events.py); bad registrations are errors."""
    assert libvirt.virEventRegisterDefaultImpl() == 0
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.domainEventRegisterAny(None, -1, lambda *a: None, None)
    assert ei.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
