#!/bin/bash
# Build the real-Xen image: xen.elf, vmlinuz, initrd-base.cpio (tiny dom0 initramfs), rootfs.img
# (Debian 12 + Xen 4.17 tools + python3 + what the in-dom0 tests and the benchmark need).
# Output: $OUT (default: the cache directory for this recipe's hash, see image.py). Built in $OUT.tmp,
# renamed into place when complete, so a half-built image is never used.
# Needs root and the Debian mirror apt uses. Host packages: debootstrap busybox-static cpio e2fsprogs qemu-system-x86.
# PROVENANCE: from the team's xen-in-qemu recipe (build.sh), extended (see realxen/PROVENANCE.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?set OUT to the image directory}
D=$OUT.tmp; rm -rf "$D"; mkdir -p "$D"; cd "$D"

# the Debian mirror this machine's apt already uses (first URIs:/deb line of its sources)
MIRROR=${MIRROR:-$(sed -n -E 's/^URIs: *([^ ]+\/debian)$/\1/p; s/^deb +(\[[^]]*\] +)?([^ ]+\/debian) .*/\2/p' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1 || true)}
[ -n "$MIRROR" ] || { echo "no Debian mirror found in the apt sources; set MIRROR" >&2; exit 2; }
# a fresh machine has no package lists yet: apt-cache and apt-get need them
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')}
command -v debootstrap >/dev/null && [ -x /bin/busybox ] && command -v cpio >/dev/null && command -v mke2fs >/dev/null && command -v qemu-system-x86_64 >/dev/null || apt-get install -y debootstrap busybox-static cpio e2fsprogs qemu-system-x86
# 1. Debian 12 rootfs (bookworm main only, so versions are consistent): the Xen toolstack, python3, the test
#    dependencies (pytest 7 etc.: the in-dom0 tests run under them) and libvirt's libxl driver for the benchmark
PKGS=xen-utils-4.17,xenstore-utils,python3,kmod,busybox,iproute2,procps
PKGS=$PKGS,python3-click,python3-rich,python3-prometheus-client,python3-pytest,python3-hypothesis
PKGS=$PKGS,libvirt-daemon,libvirt-daemon-driver-xen,libvirt-clients,python3-libvirt
debootstrap --variant=minbase --include=$PKGS bookworm rootfs $MIRROR >debootstrap.log 2>&1 || { tail -30 debootstrap.log >&2; exit 1; }
XENVER=$(chroot rootfs dpkg-query -W -f '${Version}' xen-utils-4.17)
# 2. hypervisor of the SAME version as the tools, and the dom0/domU kernel
mkdir -p debs && cd debs
apt-get download -q xen-hypervisor-4.17-amd64=$XENVER $KPKG >/dev/null
rm -rf x && mkdir x && dpkg-deb -x xen-hypervisor-4.17-amd64_*${XENVER##*:}*_amd64.deb x && dpkg-deb -x ${KPKG}_*.deb x
cd "$D"
zcat debs/x/boot/xen-4.17-amd64.gz > xen.elf          # QEMU multiboot needs the uncompressed ELF
cp debs/x/boot/vmlinuz-* vmlinuz
KVER=$(ls debs/x/lib/modules)
# 3. kernel modules subset (xen backends, virtio, ext4) into rootfs
M=rootfs/lib/modules/$KVER; rm -rf $M; mkdir -p $M/kernel
S=debs/x/lib/modules/$KVER
for p in drivers/xen drivers/block drivers/virtio drivers/net/xen-netback drivers/net/tun.ko fs/ext4 fs/jbd2 fs/mbcache.ko lib crypto arch net/bridge net/802 net/llc; do
  mkdir -p $M/kernel/$(dirname $p); cp -a $S/kernel/$p $M/kernel/$p; done
cp $S/modules.order $S/modules.builtin* $M/ 2>/dev/null || true
chroot rootfs depmod $KVER
# 4. our files in the rootfs
install -m755 "$HERE"/files/xenqemu-init rootfs/usr/local/sbin/xenqemu-init
mkdir -p rootfs/opt/xenqemu
install -m644 "$HERE"/files/guest.cfg "$HERE"/files/xenpy.py rootfs/opt/xenqemu/; install -m755 "$HERE"/files/demo.sh rootfs/opt/xenqemu/
cp vmlinuz rootfs/opt/xenqemu/vmlinuz
G=$(mktemp -d); mkdir -p $G/{bin,proc,sys,dev}; cp /bin/busybox $G/bin/; for a in sh mount cat echo sleep uname cut; do ln -s busybox $G/bin/$a; done
install -m755 "$HERE"/files/guest-init $G/init; mkdir -p $G/sbin; install -m755 "$HERE"/files/guest-shutdown $G/sbin/poweroff; ln -s poweroff $G/sbin/reboot; (cd $G && find . | cpio -o -H newc --quiet) | gzip -9 > rootfs/opt/xenqemu/guest-initrd.cpio.gz; rm -rf $G
rm -rf rootfs/usr/share/doc/* rootfs/usr/share/man/* rootfs/usr/share/locale/* rootfs/var/cache/apt/*.bin rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*_Packages
# 5. rootfs image (no mount needed); run.sh uses it with -snapshot so it stays pristine
mke2fs -q -t ext4 -L xenroot -d rootfs rootfs.img 2G
# 6. tiny dom0 initramfs: static busybox + modules for virtio-blk/ext4
I=$(mktemp -d); mkdir -p $I/{bin,proc,sys,dev,newroot,lib/modules}
cp /bin/busybox $I/bin/; for a in sh mount modprobe insmod mkdir cp sleep echo poweroff switch_root cat; do ln -s busybox $I/bin/$a; done
cp -a $M $I/lib/modules/; rm -rf $I/lib/modules/$KVER/kernel/{drivers/xen,drivers/net,net}
install -m755 "$HERE"/files/initrd-init $I/init
(cd $I && find . | cpio -o -H newc --quiet) > initrd-base.cpio; rm -rf $I
echo "xen=$XENVER kernel=$KVER mirror=$MIRROR built=$(date -u +%FT%TZ)" > VERSION
rm -rf rootfs debs
cd /; rm -rf "$OUT"; mv "$D" "$OUT"
ls -la "$OUT"; cat "$OUT/VERSION"
