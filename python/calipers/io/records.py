"""What the log readers hand out and how they account for rows they skip: the column
spec, chunks of valid rows, skip counts by reason (with the first file:line of each), and
the row parser's value checks as columnar masks (the same messages on every path)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Columns",
    "Chunk",
    "Skipped",
    "MalformedRow",
    "UnreadableFile",
    "unique_columns",
    "WideNumber",
    "SkipTally",
    "skip_rows",
    "row_reasons",
    "score_checks",
    "whole_label_check",
    "binary_label_check",
]


@dataclass
class Skipped:
    """Rows skipped per reason, with the first file:line of each."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, where: str, count: int = 1) -> None:
        """Count ``count`` rows skipped for ``reason``; ``where`` is the first of them if the
        reason is new (callers go through the logs in order)."""
        if reason not in self.counts:
            self.counts[reason] = 0
            self.first[reason] = where
        self.counts[reason] += count

    def row(self, reason: str, where: str, strict: bool) -> None:
        """One malformed row at ``where`` (file:line): :class:`MalformedRow` when ``strict``,
        else counted under ``reason``."""
        if strict:
            raise MalformedRow(f"{where}: {reason}")
        self.add(reason, where)

    @property
    def total(self) -> int:
        """Rows skipped, all reasons together."""
        return sum(self.counts.values())


class MalformedRow(ValueError):
    """A row that cannot be scored (raised in strict mode)."""


class UnreadableFile(ValueError):
    """A log file that cannot be read at all: missing or unreadable, not gzip or truncated,
    corrupt Parquet, UTF-16 text, an unknown format. ``str()`` is one line naming the
    file, the reason and its details; ``reason`` is short and the same for every file
    that fails the same way (``--keep-going`` counts files by it)."""

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        super().__init__(path, reason, detail)
        self.path, self.reason, self.detail = path, reason, detail

    def __str__(self) -> str:
        return f"cannot read {self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


class WideNumber(float):
    """A JSON number beyond the range of a float (``1e400``, ``-1e999``): the infinity
    Python reads it as (every check sees that value), keeping its original ``text`` so the
    JSONL writer of ``calipers apply`` writes the number back as it came rather than null."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> WideNumber:
        """The float of ``text`` (an infinity), remembering ``text``."""
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __reduce__(self) -> tuple[type[WideNumber], tuple[str]]:
        """Pickled as its text."""
        return WideNumber, (self.text,)


def unique_columns(path: str, names: list[str], kind: str, source: str) -> None:
    """:class:`UnreadableFile` ('duplicate ``kind`` column') when ``names`` (a CSV header, a
    Parquet schema: ``source``) names a column twice: which value would a row's field be?"""
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UnreadableFile(
                path, f"duplicate {kind} column", f"the {source} names {name!r} {names.count(name)} times"
            )
        seen.add(name)


@dataclass
class Columns:
    score: str = "score"
    label: str = "label"
    probs: str | None = None  # name of a probability-vector column, instead of score
    prob_columns: list[str] | None = None  # or K columns holding the class probabilities
    group: str | None = None  # optional group key column (--by)
    time: str | None = None  # optional timestamp column (--time): epoch numbers or ISO 8601
    time_unit: str = "auto"  # unit of epoch numbers: auto (detected per value), s, ms, us, ns


@dataclass
class Chunk:
    """Valid rows of a log: scores (n,) or (n, K), labels, and the optional group keys and
    timestamps (epoch seconds)."""

    scores: np.ndarray
    labels: np.ndarray
    groups: list[str] | np.ndarray | None
    times: np.ndarray | None


class SkipTally:
    """Rows skipped in one columnar batch: reason -> [count, first position]. ``flush``
    adds them to :class:`Skipped` in order of first position, as the row reader adds them,
    so 'first at' stays the first in the logs; in strict mode it raises at the first one."""

    def __init__(self) -> None:
        self.reasons: dict[str, list[int]] = {}

    def add(self, reason: str, position: int, count: int = 1) -> None:
        """Count ``count`` rows for ``reason``, the first of them at ``position``."""
        entry = self.reasons.setdefault(reason, [0, position])
        entry[0] += count
        entry[1] = min(entry[1], position)

    def add_masks(self, reasons: list[tuple[np.ndarray, str]], positions: np.ndarray) -> np.ndarray:
        """Give each row the first reason whose mask holds (the row reader's precedence);
        returns the mask of rows skipped."""
        bad = np.zeros(len(positions), bool)
        for mask, reason in reasons:
            hit = mask & ~bad
            if hit.any():
                rows = np.flatnonzero(hit)
                self.add(reason, int(positions[rows[0]]), len(rows))
                bad |= hit
        return bad

    def flush(self, path: str, strict: bool, skipped: Skipped) -> None:
        """Add the tallied reasons to ``skipped`` in order of first position (raising
        :class:`MalformedRow` at the first one when ``strict``)."""
        ordered = sorted(self.reasons.items(), key=lambda item: item[1][1])
        if strict and ordered:
            reason, (_, position) = ordered[0]
            raise MalformedRow(f"{path}:{position}: {reason}")
        for reason, (count, position) in ordered:
            skipped.add(reason, f"{path}:{position}", count)


def skip_rows(
    reasons: list[tuple[np.ndarray, str]], path: str, offset: int, strict: bool, skipped: Skipped
) -> np.ndarray:
    """The skipped-row mask of a columnar batch whose rows start after ``offset``."""
    tally = SkipTally()
    bad = tally.add_masks(reasons, offset + 1 + np.arange(len(reasons[0][0])))
    tally.flush(path, strict, skipped)
    return bad


def row_reasons(reasons: list[tuple[np.ndarray, str]], n: int) -> list[str | None]:
    """Each row's skip reason (the first mask that holds, the row parser's precedence), or
    None for a row that is kept."""
    out: list[str | None] = [None] * n
    done = np.zeros(n, bool)
    for mask, reason in reasons:
        hit = np.flatnonzero(mask & ~done)
        for i in hit.tolist():
            out[i] = reason
        done[hit] = True
    return out


def score_checks(score: np.ndarray, cols: Columns) -> list[tuple[np.ndarray, str]]:
    """The row parser's score rules as masks: NaN, then outside [0, 1]."""
    with np.errstate(invalid="ignore"):
        return [
            (np.isnan(score), f"NaN '{cols.score}'"),
            (~((score >= 0.0) & (score <= 1.0)), f"'{cols.score}' outside [0, 1]"),
        ]


def whole_label_check(label: np.ndarray, cols: Columns) -> tuple[np.ndarray, str]:
    """The row parser's rule that a label is a finite whole number, as a mask."""
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(label) & (label == np.floor(label))), f"'{cols.label}' is not an integer"


def binary_label_check(label: np.ndarray, cols: Columns) -> tuple[np.ndarray, str]:
    """The row parser's rule that a 1-D row's label is 0 or 1, as a mask."""
    return (label != 0) & (label != 1), f"'{cols.label}' not 0 or 1"
