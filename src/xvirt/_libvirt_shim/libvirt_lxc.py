"""Stand-in for libvirt-python's libvirt_lxc: with this directory on PYTHONPATH it gives ``xvirt.libvirt_lxc``."""

import sys

import xvirt.libvirt_lxc as _facade

if __name__ == "libvirt_lxc":
    sys.modules[__name__] = _facade
