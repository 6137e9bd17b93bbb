"""Disk, vif and PCI spec strings (xvirt.domxml.xlspec), per xl-disk-configuration(5) and
xl-network-configuration(5) and libvirt's readers."""

from __future__ import annotations

import pytest

from xvirt.domxml.xlspec import (SpecError, XmDisk, format_pci, format_xl_disk, format_xm_disk,
                                 parse_pci, parse_rate, parse_vif, parse_xl_disk, parse_xm_disk)


def disk(spec: str) -> tuple:
    d = parse_xl_disk(spec)
    return (d.target, d.format, d.vdev, d.readwrite, d.backendtype, d.cdrom)


@pytest.mark.parametrize("spec,expected", [
    # keyword form, libvirt's canonical order
    ("format=qcow2,vdev=xvda,access=rw,backendtype=qdisk,target=/i/d.qcow2",
     ("/i/d.qcow2", "qcow2", "xvda", True, "qdisk", False)),
    # positional: target, format, vdev, access; empty fields take defaults
    ("/dev/vg/g,,hda,,backendtype=phy", ("/dev/vg/g", "raw", "hda", True, "phy", False)),
    ("/var/img,,hdb,,", ("/var/img", "raw", "hdb", True, None, False)),
    ("/root/boot.iso,raw,hdc,r,backendtype=qdisk,devtype=cdrom",
     ("/root/boot.iso", "raw", "hdc", False, "qdisk", True)),
    ("/a,qcow,xvdb,w", ("/a", "qcow", "xvdb", True, None, False)),
    # keyword and positional mixed, blanks before parameters ignored
    ("vdev=xvdc, access=ro, /p/x", ("/p/x", None, "xvdc", False, None, False)),
    # target= swallows the rest, commas and all
    ("vdev=xvda,target=/dir/a,b c", ("/dir/a,b c", None, "xvda", True, None, False)),
    # empty CD-ROM: no target
    ("format=raw,vdev=hdd,access=ro,devtype=cdrom", (None, "empty", "hdd", False, None, True)),
    ("vdev=hdd,cdrom", (None, "empty", "hdd", False, None, True)),
    # deprecated forms: prefixes dropped, the format slot skipped after a prefix
    ("phy:/dev/sda8,hda,w", ("/dev/sda8", None, "hda", True, None, False)),
    ("tap:aio:/root/some.img,xvda,w", ("/root/some.img", None, "xvda", True, None, False)),
    ("qcow2:/i/x,xvda,w", ("/i/x", "qcow2", "xvda", True, None, False)),
    (",hdc:cdrom,r", ("", "empty", "hdc", False, None, True)),
    ("/i/x,raw,xvda:disk,w", ("/i/x", "raw", "xvda", True, None, False)),
])
def test_xl_disk_forms(spec: str, expected: tuple) -> None:
    assert disk(spec) == expected


@pytest.mark.parametrize("spec,words", [
    ("format=vmdk,vdev=xvda,target=/x", "unknown value for format"),
    ("vdev=xvda,access=rx,target=/x", "unknown value for access"),
    ("vdev=xvda,backendtype=nbd,target=/x", "unknown value for backendtype"),
    ("vdev=xvda,devtype=floppy,target=/x", "unknown value for devtype"),
    ("vdev=xvda,vdev=xvdb,target=/x", "more than once"),
    ("/x,raw,xvda,rw,extra", "too many positional parameters"),
    ("target=/x", "no vdev"),
    ("vdev=xvda", "no target"),
    ("bogus=1,vdev=xvda,target=/x", "unknown disk parameter"),
    ("vdev=xv/da,target=/x", "invalid vdev"),
    (",hdc:tape,r", "unknown deprecated disk type"),
    ("x" * 5000, "longer than"),
])
def test_xl_disk_errors(spec: str, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        parse_xl_disk(spec)


def test_xl_disk_writer_is_libvirts_keyword_form() -> None:
    assert format_xl_disk(parse_xl_disk("/root/boot.iso,,hdc,,devtype=cdrom")) == \
        "format=raw,vdev=hdc,access=ro,devtype=cdrom,target=/root/boot.iso"
    assert format_xl_disk(parse_xl_disk("vdev=hdd,cdrom")) == \
        "format=raw,vdev=hdd,access=ro,devtype=cdrom"


@pytest.mark.parametrize("spec,expected", [
    ("phy:/dev/HostVG/G,xvda,w", XmDisk("/dev/HostVG/G", "phy", None, "xvda")),
    ("file:/root/boot.iso,hdc:cdrom,r", XmDisk("/root/boot.iso", "file", None, "hdc", True, True)),
    ("tap:aio:/root/some.img,xvda,w", XmDisk("/root/some.img", "tap", "raw", "xvda")),
    ("tap2:qcow2:/i/q,ioemu:hda,w!", XmDisk("/i/q", "tap2", "qcow2", "hda", shared=True)),
    (",hdc:cdrom,r", XmDisk(None, "phy", None, "hdc", True, True)),
    ("/dev/sdb,sdb,r", XmDisk("/dev/sdb", "phy", None, "sdb", readonly=True)),
])
def test_xm_disk(spec: str, expected: XmDisk) -> None:
    assert parse_xm_disk(spec) == expected
    if spec.startswith(("phy:", "file:", "tap:", ",")):
        assert format_xm_disk(expected) == spec


@pytest.mark.parametrize("spec", ["/x", "/x,xvda", ",xvda,w", "tap:/x,xvda,w",
                                  "tap:weird:/x,xvda,w", "/x,xv da,w"])
def test_xm_disk_errors(spec: str) -> None:
    with pytest.raises(SpecError):
        parse_xm_disk(spec)


def test_vif() -> None:
    v = parse_vif("mac=00:16:3e:66:92:9c,bridge=xenbr1,ip=10.0.0.1 2000::1, script=vif-bridge,"
                  "model=e1000,rate=10240KB/s,vifname=v1,type=vif,unknown=ignored")
    assert (v.mac, v.bridge, v.ip, v.script, v.model, v.rate, v.vifname, v.type) == \
        ("00:16:3e:66:92:9c", "xenbr1", "10.0.0.1 2000::1", "vif-bridge", "e1000",
         "10240KB/s", "v1", "vif")
    with pytest.raises(SpecError, match="not key=value"):
        parse_vif("mac=00:16:3e:66:92:9c,bridge")
    with pytest.raises(SpecError, match="too long"):
        parse_vif("model=averyveryverylongmodel")


@pytest.mark.parametrize("rate,kbps", [("10240KB/s", 10240), ("1MB/s", 1024), ("2GB/s", 2097152),
                                       ("800Kb/s", 100), ("100B/s@20ms", 100)])
def test_rate(rate: str, kbps: int) -> None:
    assert parse_rate(rate) == kbps


@pytest.mark.parametrize("rate", ["10 KB/s", "KB/s", "10KB", "10TB/s"])
def test_rate_errors(rate: str) -> None:
    with pytest.raises(SpecError):
        parse_rate(rate)


def test_pci() -> None:
    p = parse_pci("0000:02:00.0,permissive=1")
    assert (p.domain, p.bus, p.slot, p.function, p.permissive) == (0, 2, 0, 0, True)
    assert format_pci(p) == "0000:02:00.0,permissive=1"
    p = parse_pci("01:13.0")
    assert (p.domain, p.bus, p.slot, p.function, p.permissive) == (0, 1, 0x13, 0, None)
    assert format_pci(parse_pci("0001:0c:1b.2")) == "0001:0c:1b.2"
    for bad in ("0000:02:00", "zz:00.0", "00:20.0", "00:1f.8", "00:1f.1,permissive=yes",
                "00:1f.1,permissive"):
        with pytest.raises(SpecError):
            parse_pci(bad)
