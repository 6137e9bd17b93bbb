"""Stand-in for libvirt-python's libvirt_qemu: with this directory on PYTHONPATH it gives ``xvirt.libvirt_qemu``."""

import sys

import xvirt.libvirt_qemu as _facade

if __name__ == "libvirt_qemu":
    sys.modules[__name__] = _facade
