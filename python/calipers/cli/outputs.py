"""Where the commands write: every output is checked before any work (not one of the
inputs, through ``..``, symlinks or hard links; its folder exists and takes a new file)
and written atomically (a temporary file in the same folder, fsync, rename), so a failed
or killed run leaves the target as it was. Failures become one-line CommandErrors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable

from ..io.atomic import check_writable, descriptor_of, same_file, write_atomic
from ..io.records import Skipped
from .common import CommandError

__all__ = ["check_outputs", "names_stdout", "save", "save_fitted", "report_files"]

# the fixed files a --report DIR gets (group diagrams add reliability_<group>.png)
REPORT_FILES = ("index.html", "reliability.png", "smooth.png", "drift.png")


def report_files(directory: str) -> list[str]:
    """The fixed files ``--report DIR`` writes."""
    return [os.path.join(directory, name) for name in REPORT_FILES]


def _nearest_folder(path: str) -> str:
    """The closest existing ancestor folder of ``path`` (what a makedirs would start from)."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _same_output(a: str, b: str) -> bool:
    """Two outputs that would land in one place: one path (also before it exists), one
    existing file (through links), or one descriptor of this process."""
    fd = descriptor_of(a)
    if fd is not None and fd >= 0:
        return fd == descriptor_of(b)
    return os.path.realpath(a) == os.path.realpath(b) or same_file(a, b)


def _distinct_outputs(files: list[str]) -> None:
    for i, a in enumerate(files):
        for b in files[:i]:
            if _same_output(a, b):
                shown = a if a == b else f"{b} and {a}"
                raise CommandError(f"refusing to write {shown}: two outputs of this run land in one place")


def names_stdout(outputs: Iterable[str | None]) -> bool:
    """True when an output is standard output (``/dev/stdout``, ``/dev/fd/1``, ...): the
    run's messages and report then go to standard error, so they do not mix with the data."""
    return any(p and descriptor_of(p) == 1 for p in outputs)


def check_outputs(outputs: Iterable[str | None], inputs: Iterable[str], *, report: str | None = None) -> None:
    """Refuse, before anything is opened for writing, an output that is one of the inputs
    (the same file by device and inode) or that cannot be written; ``report`` is a
    ``--report DIR`` (its fixed files are outputs too; DIR may not exist yet)."""
    inputs = [p for p in inputs if p]
    files = [p for p in outputs if p]
    if report:
        files += report_files(report)
    _distinct_outputs(files)
    for out in files:
        fd = descriptor_of(out)
        if fd == 2:
            raise CommandError(
                f"refusing to write {out}: it is standard error, where calipers writes its messages; "
                "write to /dev/stdout or a file"
            )
        if fd == 0:
            raise CommandError(f"refusing to write {out}: it is standard input, which calipers only reads")
        for inp in inputs:
            if same_file(out, inp):
                shown = out if os.path.abspath(out) == os.path.abspath(inp) else f"{out} ({inp})"
                raise CommandError(
                    f"refusing to write {shown}: it is one of the inputs; write to another file, then rename it"
                )
    for out in (p for p in outputs if p):
        try:
            check_writable(out)
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from None
    if report:
        base = _nearest_folder(report)
        if not os.path.isdir(base):
            raise CommandError(f"cannot write {report}: {base} is not a directory")
        if os.path.isdir(report):
            try:
                check_writable(os.path.join(report, "index.html"))
            except OSError as exc:
                raise CommandError(f"cannot write {report}: {exc.strerror or exc}") from None
        elif not os.access(base, os.W_OK | os.X_OK):
            raise CommandError(f"cannot write {report}: Permission denied")


def save(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically; an OSError becomes a one-line CommandError."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def save_fitted(args: argparse.Namespace, text: str, rows: int, skipped: Skipped) -> None:
    """Write a fitted calibrator's or correction's JSON to ``args.output`` and, unless
    --quiet, say on stderr what was fitted on how many rows."""
    save(args.output, text + "\n")
    if not args.quiet:
        print(
            f"calipers fit: {args.method} fitted on {rows:,} rows"
            + (f" ({skipped.total:,} skipped)" if skipped.total else "")
            + f", written to {args.output}",
            file=sys.stderr,
        )
