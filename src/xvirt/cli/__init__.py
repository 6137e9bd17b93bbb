"""The ``xvirt`` command: virsh-compatible commands, ``top``, the Prometheus exporter and the simulator."""
