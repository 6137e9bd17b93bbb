"""Benchmarks of xvirt against the 2006 libvirt algorithms, libvirt 9 and the floor (run: ``python3 -m bench``)."""

__all__ = ["WORKLOADS", "STRATEGIES"]

# workload keys in report order; W3w is W3 asked a second time on the same connection
WORKLOADS = ("W1", "W2", "W3", "W3w", "W4")

# strategy keys in report order (the floor is a reference line, not a strategy)
STRATEGIES = ("prepatch", "patch1", "patch2", "xvirt-strict", "xvirt-xend", "xvirt-stale", "libvirt")
