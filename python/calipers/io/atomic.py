"""Atomic output files: write a temporary file in the target's folder, flush it to disk,
then rename it over the target, so a reader (or a crash, or SIGKILL) sees either the old
file, no file, or the complete new one, never a truncated one.

Also the check that an output is not one of the inputs (the same file through ``..``,
symlinks or hard links), made before anything is opened for writing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from types import TracebackType

__all__ = ["AtomicFile", "atomic_path", "write_atomic", "same_file", "check_writable"]


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def same_file(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same existing file (device and inode: through
    ``..``, symlinks or hard links)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_writable(path: str) -> None:
    """Raise OSError (with errno and strerror) when ``path`` cannot be written as a file:
    its folder is missing or not a folder, it is a folder itself, or the folder refuses a
    new file (tried by creating and removing a temporary one)."""
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(21, "Is a directory", path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=_folder(target))
    os.close(fd)
    os.unlink(tmp)


def _folder(target: str) -> str:
    return os.path.dirname(target) or "."


class AtomicFile:
    """A temporary path beside ``path`` (``.name.XXXX.tmp`` in the same folder, so the final
    rename never crosses file systems). Write to :attr:`tmp`, then :meth:`commit` (fsync,
    rename over the target, fsync the folder) or :meth:`discard`. A symlink at ``path`` is
    followed: the file it points to is replaced. The new file gets the mode of the file it
    replaces, or the usual 0666 minus the umask."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.target = os.path.realpath(path)
        if os.path.isdir(self.target):
            raise IsADirectoryError(21, "Is a directory", path)
        fd, self.tmp = tempfile.mkstemp(
            prefix="." + os.path.basename(self.target) + ".", suffix=".tmp", dir=_folder(self.target)
        )
        os.close(fd)
        self.done = False

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it over the target."""
        try:
            mode = os.stat(self.target).st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(self.tmp, mode)
        fd = os.open(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.target)
        self.done = True
        with contextlib.suppress(OSError):  # make the rename durable (not every OS allows it)
            dfd = os.open(_folder(self.target), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def discard(self) -> None:
        """Remove the temporary file (the target is left as it was)."""
        if not self.done:
            self.done = True
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()
            raise


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """``with atomic_path(p) as tmp:`` write ``tmp``; on success it replaces ``p``
    atomically, on an exception it is removed and ``p`` is untouched."""
    with AtomicFile(path) as f:
        yield f.tmp


def write_atomic(path: str, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
