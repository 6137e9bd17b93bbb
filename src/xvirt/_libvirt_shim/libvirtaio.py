"""Stand-in for libvirt-python's libvirtaio: with this directory on PYTHONPATH, ``import libvirtaio`` gives ``xvirt.libvirtaio``."""

import sys

import xvirt.libvirtaio as _aio

if __name__ == "libvirtaio":
    sys.modules[__name__] = _aio
