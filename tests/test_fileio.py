from __future__ import annotations

import os

import pytest

from emovox.fileio import atomic_path, atomic_write_text


def test_atomic_write_has_default_permissions_and_no_leftovers(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "hello"
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]


def test_failed_write_leaves_the_old_file(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
