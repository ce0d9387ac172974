"""calipers.io.atomic: a target is replaced whole or not at all, keeps its mode, and a
symlinked target is replaced through the link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from calipers.io.atomic import AtomicFile, atomic_path, check_writable, same_file, write_atomic


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_write_replaces_whole_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    write_atomic(str(target), b"first")
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    target.chmod(0o640)
    write_atomic(str(target), "second")
    assert target.read_bytes() == b"second" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]  # no temporary file left


def test_an_error_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(str(target)) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("stop")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["out.bin"]
    f = AtomicFile(str(tmp_path / "new.bin"))
    Path(f.tmp).write_bytes(b"x")
    f.discard()
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_a_symlinked_target_is_replaced_through_the_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "data.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    write_atomic(str(link), b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert same_file(str(link), str(real)) and not same_file(str(link), str(tmp_path / "missing"))


def test_check_writable_names_the_reason(tmp_path: Path) -> None:
    check_writable(str(tmp_path / "fine.bin"))
    assert os.listdir(tmp_path) == []
    for path, errno_name in (
        (tmp_path / "nowhere" / "x", "ENOENT"),
        (tmp_path, "EISDIR"),
    ):
        with pytest.raises(OSError) as exc:
            check_writable(str(path))
        assert exc.value.errno == getattr(__import__("errno"), errno_name)
