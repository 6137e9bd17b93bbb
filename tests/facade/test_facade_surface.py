"""The whole libvirt-python 9.0 surface exists in the facade, with libvirt's numbers (issue 13 item 1).

The names and values are test data (tests/facade/data/libvirt_python_api.json, provenance in
PROVENANCE.md next to it). What xvirt does not implement raises libvirtError VIR_ERR_NO_SUPPORT
with libvirt's message, never AttributeError, and goes through the error handler like any error.
"""

import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

import xvirt.libvirt as libvirt
import xvirt.libvirt_lxc as libvirt_lxc
import xvirt.libvirt_qemu as libvirt_qemu
from xvirt._libvirt_surface import is_unsupported

API = json.loads((pathlib.Path(__file__).parent / "data" / "libvirt_python_api.json").read_text())


def test_the_test_data_is_libvirt_python_9():
    assert API["source"].startswith("Debian bookworm python3-libvirt 9.0")
    # the counts issue 13 quotes for python3-libvirt 9.0
    assert len(API["classes"]["virConnect"]) == 137
    assert len(API["classes"]["virDomain"]) == 167
    assert len(API["constants"]) == 1194


def test_every_module_function_and_class_exists():
    missing = [n for n in API["module_functions"] if not callable(getattr(libvirt, n, None))]
    missing += [c for c in API["classes"] if not isinstance(getattr(libvirt, c, None), type)]
    assert missing == []
    assert set(API["module_functions"]) | set(API["classes"]) <= set(dir(libvirt))


@pytest.mark.parametrize("cls", sorted(API["classes"]))
def test_every_method_exists(cls):
    owner = getattr(libvirt, cls)
    assert sorted(set(API["classes"][cls]) - set(dir(owner))) == []
    assert [m for m in API["classes"][cls] if not callable(getattr(owner, m, None))] == []


def test_every_constant_has_libvirts_value():
    wrong = {n: (getattr(libvirt, n, "<missing>"), v) for n, v in API["constants"].items()
             if getattr(libvirt, n, "<missing>") != v or type(getattr(libvirt, n, None)) is not type(v)}
    assert wrong == {}
    assert set(API["constants"]) <= set(libvirt.__all__)


def test_qemu_and_lxc_modules():
    for module, data in ((libvirt_qemu, API["libvirt_qemu"]), (libvirt_lxc, API["libvirt_lxc"])):
        assert [f for f in data["functions"] if not callable(getattr(module, f, None))] == []
        assert {n: getattr(module, n, None) for n in data["constants"]} == data["constants"]


def no_support(call):
    with pytest.raises(libvirt.libvirtError) as info:
        call()
    assert info.value.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT == 3
    return info.value.get_error_message()


def test_unsupported_connection_method_raises_no_support(conn):
    seen = []
    libvirt.registerErrorHandler(lambda ctx, err: seen.append(err), None)
    msg = no_support(lambda: conn.listNetworks())
    assert msg == "this function is not supported by the connection driver: virConnectListNetworks"
    assert seen[-1][0] == 3 and seen[-1][2] == msg                  # through the error handler
    assert libvirt.virGetLastErrorCode() == 3 and libvirt.virGetLastErrorMessage() == msg
    assert no_support(lambda: conn.listAllStoragePools(0)).endswith(": virConnectListAllStoragePools")
    assert no_support(lambda: conn.networkLookupByName("default")).endswith(": virNetworkLookupByName")
    assert no_support(lambda: conn.newStream(0)).endswith(": virStreamNew")


def test_unsupported_domain_method_raises_no_support(conn):
    dom = conn.lookupByID(0)
    assert no_support(lambda: dom.snapshotListNames(0)).endswith(": virDomainSnapshotListNames")
    assert no_support(lambda: dom.openConsole(None, None, 0)).endswith(": virDomainOpenConsole")
    assert dom.ID() == 0                                            # the handle still works


def test_event_loop_functions_are_implemented():
    """The event loop functions exist and are real (issue 14; tests/facade/test_facade_events.py)."""
    assert libvirt.virEventRegisterDefaultImpl() == 0                # kept: programs call it first
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    calls = (("virEventRunDefaultImpl", ()), ("virEventAddTimeout", (-1, print, None)),
             ("virEventAddHandle", (0, 1, print, None)), ("virEventRemoveTimeout", (1,)),
             ("virEventRegisterImpl", (None,) * 6))
    assert [name for name, _ in calls if is_unsupported(getattr(libvirt, name))] == []


def test_objects_xvirt_has_no_driver_for_are_never_made():
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    no_support(lambda: libvirt.virNetwork(None, None))
    assert no_support(lambda: libvirt.virStream.send(object(), b"x")).endswith(": virStreamSend")


def test_qemu_and_lxc_calls_raise_no_support():
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    assert no_support(lambda: libvirt_qemu.qemuMonitorCommand(None, "info", 0)).endswith(
        ": virDomainQemuMonitorCommand")
    assert no_support(lambda: libvirt_lxc.lxcOpenNamespace(None, 0)).endswith(": virDomainLxcOpenNamespace")


def test_stubs_are_marked_and_implemented_methods_are_not():
    assert is_unsupported(libvirt.virConnect.listNetworks)
    assert is_unsupported(libvirt.virStream.send)
    assert not is_unsupported(libvirt.virEventRunDefaultImpl)
    assert not is_unsupported(libvirt.virConnect.lookupByName)
    assert not is_unsupported(libvirt.open)


def test_unmodified_program_importing_qemu_runs_and_degrades(tmp_path, simhost):
    """A program that imports libvirt_qemu, annotates with virStream and catches libvirtError."""
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""\
        import sys
        import libvirt, libvirt_qemu

        def consume(stream: libvirt.virStream) -> None: ...

        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        conn = libvirt.openReadOnly(sys.argv[1])
        try:
            conn.listAllNetworks()
        except libvirt.libvirtError as e:
            print("networks", e.get_error_code())
        try:
            libvirt_qemu.qemuMonitorCommand(conn.lookupByID(0), "info", 0)
        except libvirt.libvirtError as e:
            print("qemu", e.get_error_code())
        print("domains", len(conn.listDomainsID()) > 0)
    """))
    r = subprocess.run([sys.executable, "-m", "xvirt.libvirt", str(prog), simhost.uri], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["networks 3", "qemu 3", "domains True"]


def test_generated_table_and_test_data_agree():
    """src/xvirt/_libvirt_api.py and the test data come from one generator run."""
    from xvirt import _libvirt_api as table
    assert {c: sorted(m) for c, m in table.METHODS.items()} == \
        {c: m for c, m in API["classes"].items() if c != "libvirtError"}
    assert {k: v for g in table.CONSTANTS.values() for k, v in g.items()} == API["constants"]
    assert sorted(table.FUNCTIONS) == API["module_functions"]
    assert all(c.startswith("vir") for m in table.METHODS.values() for c in m.values())
    assert table.METHODS["virConnect"]["listNetworks"] == "virConnectListNetworks"
    assert table.CONSTANTS["virDomainState"]["VIR_DOMAIN_PMSUSPENDED"] == 7
