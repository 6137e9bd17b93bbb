"""A directory to put on PYTHONPATH so that ``import libvirt`` loads ``xvirt.libvirt`` (see docs/libvirt-compat.md)."""
