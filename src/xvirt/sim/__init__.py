"""The simulated Xen host: XenD, xenstored and the hypervisor domain table on real sockets/files."""
