"""The VIR_* constants carry libvirt's stable numbers (reference/libvirt-api.md §2, ecosystem.md §3.3)."""

import xvirt.libvirt as libvirt
from xvirt.constants import DomainState, ListFlags, StatsFlags, StatsGroups
from xvirt.errors import ErrorCode, ErrorDomain

PINNED = {
    # states
    "VIR_DOMAIN_NOSTATE": 0, "VIR_DOMAIN_RUNNING": 1, "VIR_DOMAIN_BLOCKED": 2, "VIR_DOMAIN_PAUSED": 3,
    "VIR_DOMAIN_SHUTDOWN": 4, "VIR_DOMAIN_SHUTOFF": 5, "VIR_DOMAIN_CRASHED": 6, "VIR_DOMAIN_PMSUSPENDED": 7,
    # reasons quoted in the reference: save [5, 5], destroy [5, 2], paused by user [3, 1]
    "VIR_DOMAIN_SHUTOFF_SAVED": 5, "VIR_DOMAIN_SHUTOFF_DESTROYED": 2, "VIR_DOMAIN_PAUSED_USER": 1,
    "VIR_DOMAIN_RUNNING_BOOTED": 1, "VIR_DOMAIN_RUNNING_RESTORED": 3, "VIR_DOMAIN_RUNNING_UNPAUSED": 5,
    # error codes
    "VIR_ERR_OK": 0, "VIR_ERR_INTERNAL_ERROR": 1, "VIR_ERR_NO_SUPPORT": 3, "VIR_ERR_NO_CONNECT": 5,
    "VIR_ERR_INVALID_CONN": 6, "VIR_ERR_INVALID_DOMAIN": 7, "VIR_ERR_INVALID_ARG": 8,
    "VIR_ERR_OPERATION_FAILED": 9, "VIR_ERR_GET_FAILED": 10, "VIR_ERR_POST_FAILED": 11, "VIR_ERR_HTTP_ERROR": 12,
    "VIR_ERR_SEXPR_SERIAL": 13, "VIR_ERR_NO_XEN": 14, "VIR_ERR_XEN_CALL": 15, "VIR_ERR_NO_XENSTORE": 24,
    "VIR_ERR_XML_ERROR": 27, "VIR_ERR_DOM_EXIST": 28, "VIR_ERR_OPERATION_DENIED": 29, "VIR_ERR_SYSTEM_ERROR": 38,
    "VIR_ERR_NO_DOMAIN": 42, "VIR_ERR_OPERATION_INVALID": 55, "VIR_ERR_OPERATION_TIMEOUT": 68,
    "VIR_ERR_ARGUMENT_UNSUPPORTED": 74, "VIR_ERR_OPERATION_UNSUPPORTED": 84, "VIR_ERR_MULTIPLE_DOMAINS": 110,
    # error domains and levels
    "VIR_FROM_NONE": 0, "VIR_FROM_XEN": 1, "VIR_FROM_XEND": 2, "VIR_FROM_XENSTORE": 3, "VIR_FROM_SEXPR": 4,
    "VIR_FROM_XML": 5, "VIR_FROM_DOM": 6, "VIR_FROM_RPC": 7, "VIR_FROM_TEST": 12, "VIR_FROM_REMOTE": 13,
    "VIR_FROM_DOMAIN": 20, "VIR_ERR_NONE": 0, "VIR_ERR_WARNING": 1, "VIR_ERR_ERROR": 2,
    # listAllDomains flags
    "VIR_CONNECT_LIST_DOMAINS_ACTIVE": 1, "VIR_CONNECT_LIST_DOMAINS_INACTIVE": 2,
    "VIR_CONNECT_LIST_DOMAINS_PERSISTENT": 4, "VIR_CONNECT_LIST_DOMAINS_TRANSIENT": 8,
    "VIR_CONNECT_LIST_DOMAINS_RUNNING": 16, "VIR_CONNECT_LIST_DOMAINS_PAUSED": 32,
    "VIR_CONNECT_LIST_DOMAINS_SHUTOFF": 64, "VIR_CONNECT_LIST_DOMAINS_OTHER": 128,
    "VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE": 256, "VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE": 512,
    "VIR_CONNECT_LIST_DOMAINS_AUTOSTART": 1024, "VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART": 2048,
    "VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT": 4096, "VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT": 8192,
    "VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT": 16384, "VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT": 32768,
    # stats groups and flags
    "VIR_DOMAIN_STATS_STATE": 1, "VIR_DOMAIN_STATS_CPU_TOTAL": 2, "VIR_DOMAIN_STATS_BALLOON": 4,
    "VIR_DOMAIN_STATS_VCPU": 8, "VIR_DOMAIN_STATS_INTERFACE": 16, "VIR_DOMAIN_STATS_BLOCK": 32,
    "VIR_DOMAIN_STATS_PERF": 64, "VIR_DOMAIN_STATS_IOTHREAD": 128, "VIR_DOMAIN_STATS_MEMORY": 256,
    "VIR_DOMAIN_STATS_DIRTYRATE": 512, "VIR_DOMAIN_STATS_VM": 1024,
    "VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE": 1, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE": 2,
    "VIR_CONNECT_GET_ALL_DOMAINS_STATS_PERSISTENT": 4, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_TRANSIENT": 8,
    "VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING": 16, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_PAUSED": 32,
    "VIR_CONNECT_GET_ALL_DOMAINS_STATS_SHUTOFF": 64, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_OTHER": 128,
    "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT": 1 << 29, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING": 1 << 30,
    "VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS": 1 << 31,
    # lifecycle events as measured: destroy (5, 1), create (2, 0), suspend (3, 0), resume (4, 0)
    "VIR_DOMAIN_EVENT_ID_LIFECYCLE": 0, "VIR_DOMAIN_EVENT_STOPPED": 5, "VIR_DOMAIN_EVENT_STOPPED_DESTROYED": 1,
    "VIR_DOMAIN_EVENT_STARTED": 2, "VIR_DOMAIN_EVENT_STARTED_BOOTED": 0, "VIR_DOMAIN_EVENT_SUSPENDED": 3,
    "VIR_DOMAIN_EVENT_SUSPENDED_PAUSED": 0, "VIR_DOMAIN_EVENT_RESUMED": 4, "VIR_DOMAIN_EVENT_RESUMED_UNPAUSED": 0,
    "VIR_DOMAIN_EVENT_DEFINED": 0, "VIR_DOMAIN_EVENT_UNDEFINED": 1,
    # connection
    "VIR_CONNECT_RO": 1,
}


def test_pinned_numbers():
    wrong = {name: getattr(libvirt, name, None) for name, value in PINNED.items()
             if getattr(libvirt, name, None) != value}
    assert wrong == {}


def test_every_exported_constant_is_a_number_or_a_typed_parameter_name():
    names = [n for n in libvirt.__all__ if n.startswith("VIR_")]
    assert len(names) > 1000
    strings = [n for n in names if type(getattr(libvirt, n)) is str]
    assert all(type(getattr(libvirt, n)) is int for n in names if n not in strings)
    # libvirt's string constants name typed parameters (e.g. VIR_DOMAIN_SCHEDULER_WEIGHT = "weight")
    assert libvirt.VIR_DOMAIN_SCHEDULER_WEIGHT == "weight" and libvirt.VIR_NODE_CPU_STATS_IDLE == "idle"
    assert all(n.startswith(("VIR_CONNECT_IDENTITY_", "VIR_DOMAIN_", "VIR_NODE_", "VIR_PERF_PARAM_",
                             "VIR_NETWORK_PORT_", "VIR_MIGRATE_PARAM_", "VIR_DOMAIN_SAVE_PARAM_"))
               for n in strings), strings
    assert set(PINNED) <= set(names)


def test_facade_agrees_with_the_library_enums():
    """One set of numbers: xvirt's enums and the facade's constants say the same thing."""
    for member in ErrorCode:
        assert getattr(libvirt, f"VIR_ERR_{member.name}") == member.value
    for member in ErrorDomain:
        assert getattr(libvirt, f"VIR_FROM_{member.name}") == member.value
    for member in DomainState:
        assert getattr(libvirt, f"VIR_DOMAIN_{member.name}") == member.value
    for member in ListFlags:
        assert getattr(libvirt, f"VIR_CONNECT_LIST_DOMAINS_{member.name}") == member.value
    for member in StatsGroups:
        assert getattr(libvirt, f"VIR_DOMAIN_STATS_{member.name}") == member.value
    for member in StatsFlags:
        assert getattr(libvirt, f"VIR_CONNECT_GET_ALL_DOMAINS_STATS_{member.name}") == member.value
