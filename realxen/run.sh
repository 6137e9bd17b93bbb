#!/bin/bash
# Boot Xen 4.17 + Debian 12 dom0 in QEMU (TCG), run a test command inside dom0, print its output, exit with its status.
# usage: run.sh [-v] ['shell command to run in dom0' | -f script.sh]   (no command: /opt/xenqemu/demo.sh)
#   -v : also show the Xen/dom0 boot console.  env: TIMEOUT (s, default 900), XENQEMU_LOG (full console log file),
#   XENQEMU_DIR (image; default the cached image of this recipe: `python3 image.py build` makes it),
#   XENQEMU_PAYLOAD (a directory copied to /run/xenqemu in dom0; its test.sh is the command), XENQEMU_CPU (default Nehalem)
# PROVENANCE: from the team's xen-in-qemu recipe (run.sh), with the payload directory and image cache added.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=${XENQEMU_DIR:-$(python3 "$HERE/image.py" path)}
VERBOSE=--quiet-boot; [ "${1:-}" = -v ] && { VERBOSE=; shift; }
for f in xen.elf vmlinuz initrd-base.cpio rootfs.img; do [ -e $D/$f ] || { echo "missing $D/$f: run python3 $HERE/image.py build" >&2; exit 2; }; done
W=$(mktemp -d "${TMPDIR:-/tmp}/xvirt-realxen-run.XXXXXX")   # removed by qrun.py at exit
mkdir -p $W/c/xenqemu
[ -n "${XENQEMU_PAYLOAD:-}" ] && cp -a "$XENQEMU_PAYLOAD"/. $W/c/xenqemu/
if [ "${1:-}" = -f ]; then cp "$2" $W/c/xenqemu/test.sh
elif [ $# -gt 0 ]; then printf '%s\n' "$*" > $W/c/xenqemu/test.sh; fi
# the test script (and payload) travel as a second cpio archive appended to the dom0 initramfs
( cd $W/c && find . | cpio -o -H newc --quiet ) | cat $D/initrd-base.cpio - > $W/initrd.cpio
LOG=${XENQEMU_LOG:-$W/console.log}
# exec: qrun.py becomes this process, so signals sent to run.sh reach it and it stops QEMU by pid
exec python3 "$HERE/qrun.py" --timeout ${TIMEOUT:-900} --log "$LOG" --cleanup-dir "$W" $VERBOSE -- \
  qemu-system-x86_64 -accel tcg,thread=multi -cpu ${XENQEMU_CPU:-Nehalem} -m 2048 -smp 2 \
    -nographic -nodefaults -serial stdio -no-reboot \
    -drive file=$D/rootfs.img,if=virtio,format=raw,snapshot=on \
    -kernel $D/xen.elf \
    -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 smap=0 loglvl=all guest_loglvl=all" \
    -initrd "$D/vmlinuz console=hvc0 earlyprintk=xen loglevel=4 panic=-1,$W/initrd.cpio"
