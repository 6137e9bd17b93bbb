"""The one crash-safe writer (xvirt.atomicfile) used by the libxl config directory and the simulator."""

from __future__ import annotations

import os
import stat

import pytest

from xvirt.atomicfile import TMP_MARK, write_atomic


@pytest.mark.parametrize("fsync", [True, False])
def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path, fsync):
    path = str(tmp_path / "a.xml")
    write_atomic(path, b"one", fsync=fsync)
    write_atomic(path, b"two" * 10000, fsync=fsync)
    with open(path, "rb") as f:
        assert f.read() == b"two" * 10000
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["a.xml"]


def test_a_failed_write_leaves_the_old_state_and_no_temporary(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()                                     # os.replace cannot put a file over it
    (target / "inside").write_bytes(b"kept")
    with pytest.raises(OSError):
        write_atomic(str(target), b"new")
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert not [n for n in os.listdir(tmp_path) if TMP_MARK in n]
    assert (target / "inside").read_bytes() == b"kept"
