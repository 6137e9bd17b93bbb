"""Stand-in for libvirt-python: with this directory on PYTHONPATH, ``import libvirt`` gives ``xvirt.libvirt``."""

import sys

import xvirt.libvirt as _facade

if __name__ == "libvirt":
    sys.modules[__name__] = _facade
