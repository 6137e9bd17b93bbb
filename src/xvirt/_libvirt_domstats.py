"""libvirt-python's per-domain statistics methods of ``virDomain`` (blockStats, interfaceStats, vcpus, ...).

Kept apart from ``_libvirt_objects`` so that module stays small; ``_libvirt_surface`` imports this
module before it fills the NO_SUPPORT stand-ins, so these are real methods. Return shapes are
libvirt-python's (tuples, dicts, ``(info, cpumaps)`` for ``vcpus``).
"""

from __future__ import annotations

from ._libvirt_objects import _api, _check_flags, virDomain
from .errors import InvalidArgError

__all__ = ["METHODS"]

# VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM
_VCPU_FLAGS_READ = 1 | 2 | 4


@_api
def blockStats(self, path: str) -> tuple:
    return tuple(self._o.block_stats(path))


@_api
def blockStatsFlags(self, path: str, flags: int = 0) -> dict:
    _check_flags(flags, 1, "virDomainBlockStatsFlags")   # VIR_TYPED_PARAM_STRING_OKAY
    return dict(self._o.block_stats_flags(path))


@_api
def interfaceStats(self, path: str) -> tuple:
    return tuple(self._o.interface_stats(path))


@_api
def memoryStats(self) -> dict:
    return dict(self._o.memory_stats())


@_api
def vcpus(self) -> tuple:
    infos = self._o.vcpus()
    return ([(v.number, v.state, v.cpu_time_ns, v.cpu) for v in infos], [tuple(v.affinity) for v in infos])


@_api
def vcpusFlags(self, flags: int = 0) -> int:
    _check_flags(flags, _VCPU_FLAGS_READ, "virDomainGetVcpusFlags")
    if int(flags) & 1 and not self._o.is_active():
        from .errors import OperationInvalidError
        raise OperationInvalidError("Requested operation is not valid: domain is not running")
    return self._o.vcpus_count(maximum=bool(int(flags) & 4))


@_api
def getCPUStats(self, total: bool, flags: int = 0) -> list:
    """``total``: [{cpu_time}] for the whole domain; else one dict per physical CPU, each vCPU's
    time counted on the CPU it runs on (``vcpu_time`` as libvirt names the guest part)."""
    _check_flags(flags, 0, "virDomainGetCPUStats")
    if not isinstance(total, (bool, int)):
        raise InvalidArgError("invalid argument: total must be a boolean")
    if total:
        return [{"cpu_time": self._o.info().cpu_time_ns}]
    infos = self._o.vcpus()
    ncpus = len(infos[0].affinity) if infos else self._o.connection.host_cpus()
    per = [0] * ncpus
    for v in infos:
        if 0 <= v.cpu < ncpus:
            per[v.cpu] += v.cpu_time_ns
    return [{"cpu_time": t, "vcpu_time": t} for t in per]


METHODS = {f.__name__: f for f in (blockStats, blockStatsFlags, interfaceStats, memoryStats, vcpus,
                                   vcpusFlags, getCPUStats)}
for _name, _fn in METHODS.items():
    _fn.__qualname__ = f"virDomain.{_name}"
    setattr(virDomain, _name, _fn)
del _name, _fn
