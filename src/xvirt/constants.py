"""libvirt's numbers for domain states, reasons, list and stats flags (include/libvirt/libvirt-domain.h)."""

from enum import IntEnum, IntFlag

__all__ = ["DomainState", "STATE_NAMES", "ListFlags", "StatsGroups", "StatsFlags"]


class DomainState(IntEnum):
    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7


# virsh's words for each state (tools/virsh-domain-monitor.c, virshDomainStateToString)
STATE_NAMES = {0: "no state", 1: "running", 2: "idle", 3: "paused", 4: "in shutdown",
               5: "shut off", 6: "crashed", 7: "pmsuspended"}

# reasons (virDomain*Reason): what state() returns beside the state
REASON_UNKNOWN = 0
RUNNING_BOOTED, RUNNING_RESTORED, RUNNING_UNPAUSED = 1, 3, 5
PAUSED_USER, PAUSED_SAVE = 1, 3
SHUTOFF_SHUTDOWN, SHUTOFF_DESTROYED, SHUTOFF_CRASHED, SHUTOFF_SAVED = 1, 2, 3, 5
CRASHED_UNKNOWN = 0


class ListFlags(IntFlag):
    ACTIVE = 1
    INACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    RUNNING = 16
    PAUSED = 32
    SHUTOFF = 64
    OTHER = 128
    MANAGEDSAVE = 256
    NO_MANAGEDSAVE = 512
    AUTOSTART = 1024
    NO_AUTOSTART = 2048
    HAS_SNAPSHOT = 4096
    NO_SNAPSHOT = 8192


class StatsGroups(IntFlag):
    STATE = 1
    CPU_TOTAL = 2
    BALLOON = 4
    VCPU = 8
    INTERFACE = 16
    BLOCK = 32


class StatsFlags(IntFlag):
    ACTIVE = 1
    INACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    RUNNING = 16
    PAUSED = 32
    SHUTOFF = 64
    OTHER = 128
    NOWAIT = 1 << 29
    BACKING = 1 << 30
    ENFORCE_STATS = 1 << 31
