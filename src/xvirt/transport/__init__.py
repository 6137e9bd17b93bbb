"""Client-side I/O for the three channels (XenD, xenstore, hypervisor table); errors mapped here."""
