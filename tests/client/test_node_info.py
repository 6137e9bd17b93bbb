"""Node information from a hostile XenD (issue 12, item 7): nonsense is refused with a clear
error instead of being passed on as facts."""

import pytest

import xvirt
from xvirt.errors import XendError

from .hostile import HostileXend

GOOD = {"total_memory": "65536", "nr_cpus": "8", "cpu_mhz": "2400", "nr_nodes": "1",
        "sockets_per_node": "1", "cores_per_socket": "4", "threads_per_core": "2"}


def node(**changes) -> bytes:
    fields = {**GOOD, **changes}
    return ("(node (machine x86_64) " + " ".join(f"({k} {v})" for k, v in fields.items()) + ")").encode()


@pytest.mark.parametrize("changes, words", [
    ({"total_memory": "-1"}, "memory_kib=-1024"),
    ({"nr_cpus": "0"}, "cpus=0"),
    ({"total_memory": "-1", "nr_cpus": "0"}, "cpus=0"),
    ({"cpu_mhz": "-5"}, "mhz=-5"),
    ({"nr_cpus": "many"}, "cpus=-1"),
    ({"cores_per_socket": "-2"}, "cores=-2"),
])
def test_nonsense_node_info_is_refused(changes, words):
    srv = HostileXend(node(**changes))
    try:
        with xvirt.open(f"xen+unix://{srv.path}") as conn:
            with pytest.raises(XendError) as ei:
                conn.node_info()
            assert "XenD sent invalid node information" in str(ei.value) and words in str(ei.value)
    finally:
        srv.close()


def test_sane_node_info_from_the_same_server_is_accepted():
    srv = HostileXend(node())
    try:
        with xvirt.open(f"xen+unix://{srv.path}") as conn:
            info = conn.node_info()
            assert (info.memory_kib, info.cpus, info.mhz, info.cores, info.threads) == \
                (65536 * 1024, 8, 2400, 4, 2)
    finally:
        srv.close()
