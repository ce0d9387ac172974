"""Pieces every command shares: the user-facing error, JSON-safe output, log paths,
column options, durations and the progress line."""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import sys
import time
from typing import Any

from ..io.records import Columns
from ..monitor.settings import MAX_WINDOW, MIN_WINDOW


class CommandError(Exception):
    """A failure the user can act on: ``main`` prints it after 'calipers COMMAND:' and exits 2.
    Malformed rows (--strict) exit 1 and invalid values exit 2 the same way."""


class NothingScored(CommandError):
    """A run that scored no row: ``main`` prints why and exits 1."""


def clean(value: float) -> float | None:
    """None for NaN (JSON has no NaN), else the value."""
    return None if math.isnan(value) else value


def json_safe(obj: Any) -> Any:
    """NaN (an empty bin, an undefined metric) becomes null: JSON has no NaN."""
    if isinstance(obj, float):
        return clean(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


def fmt(value: float | None) -> str:
    """Four decimals, or 'n/a'."""
    return "n/a" if value is None else f"{value:.4f}"


def int_in(low: int, high: int | None = None) -> Any:
    """An argparse type: an integer in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def log_paths(args: argparse.Namespace, command: str) -> list[str]:
    """The LOG arguments with globs expanded (and the sample log with --sample); missing
    files are an error unless --keep-going counts them as unreadable."""
    paths = []
    for pattern in map(str, args.logs):
        if any(ch in pattern for ch in "*?["):
            matched = sorted(glob.glob(pattern, recursive=True))
            if not matched:
                raise CommandError(f"no file matches {pattern}")
            paths.extend(matched)
        else:
            paths.append(pattern)
    if getattr(args, "sample", False):
        from .. import sample_log_path

        paths.append(sample_log_path())
    if not paths:
        raise CommandError("give at least one LOG file" + (" (or --sample)" if command == "score" else ""))
    if not getattr(args, "keep_going", False):
        for path in paths:
            if not os.path.exists(path):
                raise CommandError(f"no such file: {path}")
    distinct_inputs(paths)
    return paths


def distinct_inputs(paths: list[str], what: str = "rows") -> None:
    """CommandError when two of ``paths`` are the same file (by device and inode: the same
    name twice, through ``..``, a symlink or a hard link, or matched by two globs): its
    ``what`` would be counted twice. Paths that do not exist are left to the readers."""
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            first = seen[key]
            shown = f"{path} is given twice" if first == path else f"{first} and {path} are the same file"
            raise CommandError(f"{shown}: its {what} would be counted twice; give each file once")
        seen[key] = path


def columns(args: argparse.Namespace) -> Columns:
    """The column options as :class:`calipers.io.Columns`."""
    prob_columns = [c.strip() for c in args.prob_columns.split(",")] if getattr(args, "prob_columns", None) else None
    return Columns(
        score=args.score,
        label=args.label,
        probs=args.probs,
        prob_columns=prob_columns,
        group=getattr(args, "by", None),
        time=getattr(args, "time", None),
        time_unit=getattr(args, "time_unit", "auto"),
    )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '1.5d', '2w' -> seconds, in the monitor's window range."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*", text, re.ASCII)  # no full-width digits
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 30s, 15m, 1h, 1d, 1w")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:  # the monitor's range, checked again in saved runs
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: must lie in [{MIN_WINDOW:g}, {MAX_WINDOW:g}] seconds (1 ms to about 31 years)"
        )
    return seconds


class Progress:
    """rows, rows/s, bytes and an ETA on stderr (only on a terminal, never with --quiet)."""

    def __init__(self, enabled: bool, total_bytes: int) -> None:
        self.enabled, self.total = enabled, total_bytes
        self.start = time.perf_counter()
        self.finished = 0  # bytes of the files read to the end
        self.done_bytes = 0

    def file_done(self, size: int) -> None:
        """Count a file of ``size`` bytes as read to its end."""
        self.finished += size
        self.done_bytes = self.finished

    def within_file(self, position: int) -> None:
        """How far (bytes on disk) the reader is into the current file."""
        self.done_bytes = self.finished + position

    def __call__(self, rows: int, done: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        text = f"\r{rows:,} rows  {rows / elapsed:,.0f} rows/s  {self.done_bytes / 1e6:,.1f}/{self.total / 1e6:,.1f} MB"
        if 0 < self.done_bytes < self.total:
            text += f"  ETA {elapsed * (self.total - self.done_bytes) / self.done_bytes:,.0f} s"
        sys.stderr.write(text + ("\n" if done else ""))
        sys.stderr.flush()
