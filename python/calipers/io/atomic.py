"""Atomic output files: write a temporary file in the target's folder, flush it to disk,
then rename it over the target, so a reader (or a crash, or SIGKILL) sees either the old
file, no file, or the complete new one, never a truncated one.

A target that is a stream rather than a file is written directly, never replaced: one that
exists and is not a regular file (a FIFO, a character device such as ``/dev/null``, a
socket), and a name for one of the process's file descriptors (``/dev/stdout``,
``/dev/fd/N``, ``/proc/self/fd/N``), opened in append mode so ``>> log`` keeps what the
file held. What a failed run wrote to a stream cannot be taken back.

Also the check that an output is not one of the inputs (the same file through ``..``,
symlinks or hard links), made before anything is opened for writing.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from types import TracebackType

__all__ = ["AtomicFile", "atomic_path", "write_atomic", "same_file", "check_writable", "is_stream", "descriptor_of"]

# a folder whose entries are a process's open file descriptors (/dev/fd links here)
_FD_FOLDER = re.compile(r"/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/fd")


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


def descriptor_of(path: str) -> int | None:
    """The file descriptor ``path`` (or a symlink on its way) names: 1 for ``/dev/stdout``,
    ``/dev/fd/1`` or ``/proc/self/fd/1``, 2 for ``/dev/stderr``; -1 for another process's
    descriptor; None when it names none (what a descriptor points to may be a pipe, a
    terminal or a file the shell opened, possibly for appending)."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on symlinks followed
        folder = os.path.realpath(os.path.dirname(current))
        if _FD_FOLDER.fullmatch(folder):
            name = os.path.basename(current)
            owner = folder.split("/")[2]
            ours = owner in ("self", "thread-self", str(os.getpid()))
            return int(name) if ours and name.isdigit() else -1
        try:
            link = os.readlink(current)
        except OSError:  # not a symlink (or missing): the end of the chain
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    return None


def is_stream(path: str) -> bool:
    """True when ``path`` is written directly rather than replaced: it names an open file
    descriptor (``/dev/stdout``), or it exists and is neither a regular file nor a folder
    (a FIFO, a character or block device, a socket)."""
    if descriptor_of(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_writable(path: str) -> None:
    """Raise OSError (with errno and strerror) when ``path`` cannot be written as a file:
    its folder is missing or not a folder, it is a folder itself, or the folder refuses a
    new file (tried by creating and removing a temporary one). A stream (see
    :func:`is_stream`) is checked for write permission only (opening a FIFO would block
    until a reader comes)."""
    if is_stream(path):
        if descriptor_of(path) is not None and not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory (not an open file descriptor)", path)
        if not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied", path)
        return
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
    replaces, or the usual 0666 minus the umask.

    A stream target (:func:`is_stream`: a FIFO, a device, ``/dev/stdout``) is written
    directly: :attr:`tmp` is ``path`` itself, :attr:`mode` is ``"a"`` (open it with that
    mode: appending, so a file behind ``/dev/stdout`` opened with ``>>`` keeps its
    content), and commit and discard leave it alone. Otherwise :attr:`mode` is ``"w"``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.direct = is_stream(path)
        self.mode = "a" if self.direct else "w"
        self.done = False
        if self.direct:
            self.target = self.tmp = path
            return
        self.target = os.path.realpath(path)
        if os.path.isdir(self.target):
            raise IsADirectoryError(21, "Is a directory", path)
        fd, self.tmp = tempfile.mkstemp(
            prefix="." + os.path.basename(self.target) + ".", suffix=".tmp", dir=_folder(self.target)
        )
        os.close(fd)

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it over the target (a stream: nothing
        to do)."""
        if self.direct:
            self.done = True
            return
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
        """Remove the temporary file (the target is left as it was; a stream keeps what was
        written to it)."""
        if not self.done and not self.direct:
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
    atomically, on an exception it is removed and ``p`` is untouched. (A stream ``p`` is
    yielded itself: see :class:`AtomicFile`.)"""
    with AtomicFile(path) as f:
        yield f.tmp


def write_atomic(path: str, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically (a stream: directly)."""
    with AtomicFile(path) as f, open(f.tmp, f.mode + "b") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
