"""Real-Xen tests: collected only when XVIRT_REALXEN=1 (.ci/run and `make realxen` set it).

They build (or reuse) the cached Xen 4.17 image and boot it in QEMU, minutes of CPU on a small
machine, so an ordinary `pytest` run of the other layers does not start them. dom0/ is the suite
that runs inside dom0 (its own pytest.ini); the host never collects it.
"""

import os

collect_ignore_glob = ["dom0/*"]
if os.environ.get("XVIRT_REALXEN") != "1":
    collect_ignore_glob.append("test_*.py")
