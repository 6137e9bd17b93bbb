"""Host-level facts as libvirt's Xen driver reports them, computed from channel answers (pure, no I/O).

* ``capabilities_xml``: libvirt's capabilities document, built by the rules of libvirt's Xen
  driver (src/xen/xen_hypervisor.c, ``xenHypervisorMakeCapabilitiesInternal`` and
  ``xenHypervisorBuildCapabilities``): one ``<guest>`` per (os type, arch) of Xen's capability
  string (``XENVER_capabilities``, e.g. "xen-3.0-x86_64 xen-3.0-x86_32p hvm-3.0-x86_32 ..."),
  ``x86_32`` tokens merged into one i686 guest with ``pae``/``nonpae`` features, HVM guests with
  hvmloader, acpi/apic (apic toggles up to Xen 3.1), hap from 3.3, viridian from 3.4; the host CPU
  feature is the CPU's ``vmx``/``svm`` bit, else ``pae`` (libvirt matched one /proc/cpuinfo flags
  line against the HVM pattern first, so a CPU with both reports only vmx/svm); the NUMA topology
  comes from XenD's ``node_to_cpu`` when XenD reports it (libvirt's ``xenDaemonNodeGetTopology``).
  Where libvirt read dom0's /proc/cpuinfo we read the same CPUID bits from the hypervisor's
  ``hw_caps`` words in XenD's node record, so the answer describes the Xen host, not the client.
* ``cells_of_node``: per-NUMA-cell free memory from XenD's ``node_to_memory`` (Xen 3.2+), else one cell.
* ``sysinfo_xml``: libvirt's ``<sysinfo type='smbios'>`` from SMBIOS/DMI fields.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

from ..protocol import sxp

__all__ = ["MAX_VIRT_CPUS", "capabilities_xml", "guest_archs", "host_cpu_features", "parse_node_to_cpu",
           "cells_of_node", "sysinfo_xml", "DMI_FIELDS", "node_int"]

# xen/include/public/arch-x86/xen.h (Xen 3.x): ``#define MAX_VIRT_CPUS 32``; libvirt's Xen
# driver answers virConnectGetMaxVcpus with it (xenHypervisorGetMaxVcpus)
MAX_VIRT_CPUS = 32

_CAP = re.compile(r"^(xen|hvm)-\d+\.\d+-(x86_32|x86_64|ia64|powerpc64)(p|be)?$")
_WORDSIZE = {"i686": 32, "x86_64": 64, "ia64": 64, "ppc64": 64}
_ARCH = {"x86_32": "i686", "x86_64": "x86_64", "ia64": "ia64", "powerpc64": "ppc64"}

# CPUID bits (Intel SDM / AMD APM): PAE = leaf 1 EDX bit 6, VMX = leaf 1 ECX bit 5,
# SVM = leaf 0x80000001 ECX bit 2. Xen's hw_cap words (xen/include/asm-x86/cpufeature.h, Xen 3.x):
# word 0 = leaf 1 EDX, word 4 = leaf 1 ECX, word 6 = leaf 0x80000001 ECX.
_PAE, _VMX, _SVM = (0, 6), (4, 5), (6, 2)


def _value(node, key: str, default=None):
    """A field of the host's facts: ``xl info``'s / the toolstack's dict, or XenD's ``(node ...)``."""
    if isinstance(node, dict):
        return node.get(key, default)
    return sxp.child_value(node, key, default)


def node_int(node: list, key: str, default: int = 0) -> int:
    try:
        return int(_value(node, key, str(default)))
    except (TypeError, ValueError):
        return default


def _xen_version(node: list) -> tuple[int, int]:
    return node_int(node, "xen_major"), node_int(node, "xen_minor")


def guest_archs(xen_caps: str) -> list[dict]:
    """Xen's capability tokens merged into libvirt's (os type, arch) guests, in token order."""
    out: list[dict] = []
    for token in (xen_caps or "").split()[:32]:
        m = _CAP.match(token)
        if not m:
            continue
        hvm = m.group(1) == "hvm"
        arch = _ARCH[m.group(2)]
        suffix = m.group(3)
        for g in out:
            if g["arch"] == arch and g["hvm"] == hvm:
                break
        else:
            g = {"arch": arch, "hvm": hvm, "pae": False, "nonpae": False, "ia64_be": False}
            out.append(g)
        if arch == "i686":
            g["pae" if suffix == "p" else "nonpae"] = True
        elif arch == "ia64" and suffix == "be":
            g["ia64_be"] = True
    return out


def _bit(words: list[int], where: tuple[int, int]) -> bool:
    word, bit = where
    return word < len(words) and bool(words[word] >> bit & 1)


def host_cpu_features(hw_caps: str) -> list[str]:
    """The host CPU features libvirt's Xen driver reports: ``vmx``/``svm``, else ``pae``."""
    try:
        words = [int(w, 16) for w in (hw_caps or "").split(":") if w]
    except ValueError:
        words = []
    if _bit(words, _VMX):
        return ["vmx"]
    if _bit(words, _SVM):
        return ["svm"]
    return ["pae"] if _bit(words, _PAE) else []


def parse_node_to_cpu(text: str, max_cpus: int = 4096) -> list[list[int]] | None:
    """XenD's ``node_to_cpu`` ("node0:0-3,7\\nnode1:no cpus") as cpus per cell; None if malformed."""
    cells: list[list[int]] = []
    for line in (text or "").replace("\\n", "\n").splitlines():
        line = line.strip()
        if not line:
            continue
        m = re.match(r"^node(\d+):(.*)$", line)
        if not m or int(m.group(1)) != len(cells):
            return None
        cpus: list[int] = []
        spec = m.group(2).strip()
        if spec != "no cpus":
            for part in spec.split(","):
                lo, _, hi = part.strip().partition("-")
                if not lo.isdigit() or (hi and not hi.isdigit()):
                    return None
                first, last = int(lo), int(hi or lo)
                if last < first or last >= max_cpus:
                    return None
                cpus += range(first, last + 1)
        cells.append(cpus)
    return cells or None


def cells_of_node(node: list, free_kib: int) -> list[int]:
    """Free KiB per NUMA cell: XenD's ``node_to_memory`` ("node0:1234\\nnode1:..." MiB) when
    reported, else one cell holding all of ``free_kib``."""
    text = _value(node, "node_to_memory", "") or ""
    cells = []
    for line in text.replace("\\n", "\n").splitlines():
        m = re.match(r"^\s*node(\d+):(\d+)\s*$", line)
        if m and int(m.group(1)) == len(cells):
            cells.append(int(m.group(2)) * 1024)
    return cells or [free_kib]


def capabilities_xml(node: list) -> str:
    """libvirt's capabilities XML for the Xen host whose XenD node record is ``node``."""
    host_arch = _value(node, "machine", "x86_64") or "x86_64"
    if host_arch in ("i386", "i486", "i586"):
        host_arch = "i686"
    major, minor = _xen_version(node)
    out = ["<capabilities>", "", "  <host>", "    <cpu>", f"      <arch>{escape(host_arch)}</arch>"]
    features = host_cpu_features(_value(node, "hw_caps", "") or "")
    if features:
        out += ["      <features>", *(f"        <{f}/>" for f in features), "      </features>"]
    out += ["    </cpu>", "    <power_management/>", "    <migration_features>", "      <live/>",
            "      <uri_transports>", "        <uri_transport>xenmigr</uri_transport>",
            "      </uri_transports>", "    </migration_features>"]
    cells = parse_node_to_cpu(_value(node, "node_to_cpu", "") or "")
    if cells:
        out += ["    <topology>", f"      <cells num='{len(cells)}'>"]
        for i, cpus in enumerate(cells):
            out += [f"        <cell id='{i}'>", f"          <cpus num='{len(cpus)}'>",
                    *(f"            <cpu id='{c}'/>" for c in cpus), "          </cpus>", "        </cell>"]
        out += ["      </cells>", "    </topology>"]
    out += ["  </host>", ""]
    emulator = "/usr/lib64/xen/bin/qemu-dm" if host_arch == "x86_64" else "/usr/lib/xen/bin/qemu-dm"
    for g in guest_archs(_value(node, "xen_caps", "") or ""):
        out += ["  <guest>", f"    <os_type>{'hvm' if g['hvm'] else 'xen'}</os_type>",
                f"    <arch name='{g['arch']}'>", f"      <wordsize>{_WORDSIZE[g['arch']]}</wordsize>",
                f"      <emulator>{emulator}</emulator>"]
        if g["hvm"]:
            out.append("      <loader>/usr/lib/xen/boot/hvmloader</loader>")
        out += [f"      <machine>{'xenfv' if g['hvm'] else 'xenpv'}</machine>", "      <domain type='xen'/>",
                "    </arch>"]
        feats = [f"<{name}/>" for name in ("pae", "nonpae", "ia64_be") if g[name]]
        if g["hvm"]:
            apic_toggle = "no" if (major > 3 and minor > 0) else "yes"   # libvirt's test, kept as is
            feats += ["<acpi default='on' toggle='yes'/>", f"<apic default='on' toggle='{apic_toggle}'/>"]
            if (major, minor) >= (3, 3):
                feats.append("<hap default='on' toggle='yes'/>")
            if (major, minor) >= (3, 4):
                feats.append("<viridian default='off' toggle='yes'/>")
        if feats:
            out += ["    <features>", *(f"      {f}" for f in feats), "    </features>"]
        out += ["  </guest>", ""]
    out.append("</capabilities>")
    return "\n".join(out) + "\n"


# SMBIOS fields libvirt's sysinfo reports, with the Linux DMI file each comes from
DMI_FIELDS = {
    "bios": (("vendor", "bios_vendor"), ("version", "bios_version"), ("date", "bios_date"),
             ("release", "bios_release")),
    "system": (("manufacturer", "sys_vendor"), ("product", "product_name"), ("version", "product_version"),
               ("serial", "product_serial"), ("uuid", "product_uuid"), ("sku", "product_sku"),
               ("family", "product_family")),
}


def sysinfo_xml(dmi: dict[str, str]) -> str:
    """libvirt's ``<sysinfo type='smbios'>`` for DMI values keyed by their Linux DMI file name."""
    out = ["<sysinfo type='smbios'>"]
    for section, fields in DMI_FIELDS.items():
        entries = [(name, dmi[key]) for name, key in fields if dmi.get(key)]
        if entries:
            out.append(f"  <{section}>")
            out += [f"    <entry name='{name}'>{escape(value)}</entry>" for name, value in entries]
            out.append(f"  </{section}>")
    out.append("</sysinfo>")
    return "\n".join(out) + "\n"
