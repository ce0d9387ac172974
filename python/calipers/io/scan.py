"""The fast path of the CSV and JSONL readers: the C++ line scanner pulls the wanted fields
of plainly well-formed lines into numpy blocks, numpy applies the row parser's checks in the
row parser's order of precedence, and every line the scanner defers (quotes, escapes, odd
spellings, missing fields, bad JSON) goes through the row parser itself. So both paths
give the same rows, the same skip reasons and the same first file:line, which the tests
check on logs with malformed rows sprinkled in.

One difference is documented: a line is one record here, so a CSV field quoted across
lines is read as broken rows (counted, never dropped silently).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .formats import delimiter, open_binary
from .records import Chunk, Skipped, SkipTally, binary_label_check, score_checks, whole_label_check
from .rows import csv_fields, csv_header, csv_line, csv_record, json_record
from .times import epoch_seconds

_BLOCK_BYTES = 1 << 23  # bytes scanned per call: constant memory, few Python round trips
# field kinds of the C++ scanner; _EPOCH is a time as a plain number only (an ISO or quoted
# time goes to the row parser), used when an explicit unit scales numbers but not ISO times
# (_LABEL: a number or a JSON boolean, as the row parser takes a label)
_NUMBER, _VECTOR, _TEXT, _TIME, _EPOCH, _LABEL = 0, 1, 2, 3, 4, 5


def scanner() -> Any:
    """The C++ scanner, or None when the extension is not built."""
    try:
        from .. import _core
    except ImportError:
        return None
    return getattr(_core, "scan_log", None)


class _Layout:
    """Where each wanted field lands in a scanned row: scores first (1 or K slots), then the
    label and the time; the group key is interned."""

    def __init__(self, cols: Any, width: int | None, with_label: bool) -> None:
        self.cols = cols
        self.vector = cols.probs is not None or bool(cols.prob_columns)
        # (a probability-vector width is known before scanning: the first valid row fixed it)
        self.k: int = (
            len(cols.prob_columns) if cols.prob_columns else (int(width or 0) if cols.probs is not None else 1)
        )
        self.label_slot = self.k
        self.time_slot = self.k + 1
        self.width = self.k + 2
        self.with_label = with_label

    def fields(self, column_of: dict[str, int] | None) -> list[tuple[str, int, int, int, int]] | None:
        """The scanner's field tuples; None when a wanted CSV column is absent from the header
        (every row would be 'missing field': the row parser says so)."""
        cols = self.cols
        wanted: list[tuple[str, int, int, int]] = []
        if cols.prob_columns:
            wanted += [(name, _NUMBER, slot, 1) for slot, name in enumerate(cols.prob_columns)]
        elif cols.probs is not None:
            wanted.append((cols.probs, _VECTOR, 0, self.k))
        else:
            wanted.append((cols.score, _NUMBER, 0, 1))
        if self.with_label:
            wanted.append((cols.label, _LABEL, self.label_slot, 1))
        if cols.time is not None:
            kind = _TIME if cols.time_unit in ("auto", "s") else _EPOCH
            wanted.append((cols.time, kind, self.time_slot, 1))
        if cols.group is not None:
            wanted.append((cols.group, _TEXT, 0, 1))
        out = []
        for key, kind, slot, length in wanted:
            column = -1
            if column_of is not None:
                if key not in column_of:
                    return None
                column = column_of[key]
            out.append((key, column, kind, slot, length))
        return out


def _columnar_reasons(layout: _Layout, values: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """The row parser's checks on scanned numbers, in its order of precedence (the scanner
    already guarantees presence, numeric spelling and vector length)."""
    cols = layout.cols
    reasons: list[tuple[Any, str]] = []
    with np.errstate(invalid="ignore"):
        if cols.time is not None:  # epoch numbers to seconds, in place (ISO times are seconds already)
            seconds, unreadable, out_of_range = epoch_seconds(values[:, layout.time_slot], cols.time_unit)
            values[:, layout.time_slot] = seconds
            reasons.append((unreadable, f"unreadable time '{cols.time}'"))
            reasons.append((out_of_range, f"'{cols.time}' out of range"))
        label = values[:, layout.label_slot]
        if layout.with_label:
            reasons.append(whole_label_check(label, cols))
        scores = values[:, : layout.k]
        if layout.vector:
            what = "probability columns" if cols.prob_columns else f"'{cols.probs}'"
            reasons.append((np.isnan(scores).any(axis=1), f"NaN in {what}"))
            reasons.append((((scores < 0.0) | (scores > 1.0)).any(axis=1), f"{what} outside [0, 1]"))
            reasons.append((np.abs(_fsum_rows(scores) - 1.0) > 1e-4, "probabilities do not sum to 1"))
            if layout.with_label:
                reasons.append(((label < 0) | (label >= layout.k), f"'{cols.label}' out of range"))
        else:
            reasons += score_checks(scores[:, 0], cols)
            if layout.with_label:
                reasons.append(binary_label_check(label, cols))
    return reasons


def _fsum_rows(scores: np.ndarray) -> np.ndarray:
    """Row sums as math.fsum gives them (the row parser's rule), exact where it matters:
    only rows near the 1e-4 boundary are summed again exactly."""
    sums = scores.sum(axis=1)
    near = np.flatnonzero(np.abs(np.abs(sums - 1.0) - 1e-4) < 1e-12)
    for i in near.tolist():
        sums[i] = math.fsum(scores[i].tolist())
    return np.asarray(sums)


class FastReader:
    """Reads one CSV or JSONL file (plain or gzip) in blocks with the C++ scanner."""

    def __init__(
        self,
        path: str,
        fmt: str,
        cols: Any,
        rows: Any,
        strict: bool,
        skipped: Skipped,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.path, self.fmt, self.cols, self.rows, self.on_bytes = path, fmt, cols, rows, on_bytes
        self.strict, self.skipped = strict, skipped
        self.scan = scanner()
        self.delimiter = delimiter(path)
        self.header: list[str] | None = None

    # -- records for the row parser ------------------------------------------------------
    def _record(self, raw: bytes) -> Any:
        """A deferred line as the row reader sees it: a dict, or a parse-error string; None
        for a CSV line with no fields (a lone CR), which the row reader skips as blank."""
        if self.fmt == "csv":  # as the row reader decodes a CSV line
            text = raw.decode("utf-8", "replace")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return "invalid UTF-8"
            return json_record(text)
        fields = csv_fields(text, self.delimiter)
        if isinstance(fields, str) or not fields:
            return fields or None
        assert self.header is not None
        return csv_record(self.header, fields)

    # -- blocks --------------------------------------------------------------------------
    def chunks(self, chunk_size: int) -> Iterator[Chunk]:
        """Chunks of at most ``chunk_size`` valid rows of the file, block by block in file
        order; within a block (a few MB of lines) the rows the scanner reads come first and
        the lines it hands to the row parser after them. Each row keeps its own score, label,
        group and time, and every metric is order-free, so only the order of rows differs
        from the row reader's (``apply`` keeps file order: it reads with the row reader)."""
        with open_binary(self.path) as fh:
            first_line = 1
            if self.fmt == "csv":
                head = fh.readline()
                first_line = 2
                self.header = csv_header(csv_line(head), self.delimiter, self.path)
            carry = b""
            raw = getattr(fh, "fileobj", fh)  # the file on disk (the compressed bytes of a .gz)
            on_bytes = self.on_bytes if raw.seekable() else None  # a FIFO or pipe has no position
            while True:
                data = fh.read(_BLOCK_BYTES)
                text = carry + data
                if data:
                    cut = text.rfind(b"\n")
                    if cut < 0:
                        carry = text
                        continue
                    text, carry = text[: cut + 1], text[cut + 1 :]
                if text:
                    parts, used = self._block(text, first_line)
                    first_line += used
                    if on_bytes is not None:
                        on_bytes(raw.tell())
                    yield from _split(parts, chunk_size)
                if not data:
                    return

    def _block(self, text: bytes, first_line: int) -> tuple[dict[str, Any], int]:
        """Valid rows of whole lines `text` starting at 1-based line `first_line`, and the
        number of lines it held."""
        bad = SkipTally()
        parts: dict[str, list[Any]] = {"scores": [], "labels": [], "groups": [], "times": []}
        lines_used = 0
        if self.rows.width is None and self.cols.probs is not None:
            # The first valid row fixes the vector width: find it with the row parser.
            text, lines_used = self._until_width(text, first_line, bad, parts)
            first_line += lines_used
        if text:
            lines_used += self._scan(text, first_line, bad, parts)
        bad.flush(self.path, self.strict, self.skipped)
        return parts, lines_used

    def _until_width(
        self, text: bytes, first_line: int, bad: SkipTally, parts: dict[str, list[Any]]
    ) -> tuple[bytes, int]:
        pos, line = 0, first_line
        while pos < len(text) and self.rows.width is None:
            end = text.find(b"\n", pos)
            end = len(text) if end < 0 else end
            raw = text[pos:end].rstrip(b"\r")
            if raw.strip():
                self._parse_one(raw, line, bad, parts)
            pos, line = end + 1, line + 1
        return text[pos:], line - first_line

    def _parse_one(self, raw: bytes, line: int, bad: SkipTally, parts: dict[str, list[Any]]) -> None:
        rec = self._record(raw)
        if rec is None:
            return
        parsed = self.rows.parse(rec)
        if isinstance(parsed, str):
            bad.add(parsed, line)
            return
        score, label, group, when = parsed
        parts["scores"].append(np.asarray([score], np.float64))
        parts["labels"].append(np.asarray([label], np.int64))
        if group is not None:
            parts["groups"].append(np.asarray([group]))
        if when is not None:
            parts["times"].append(np.asarray([when], np.float64))

    def _scan(self, text: bytes, first_line: int, bad: SkipTally, parts: dict[str, list[Any]]) -> int:
        layout = _Layout(self.cols, self.rows.width, self.rows.with_label)
        column_of = None if self.header is None else {name: i for i, name in enumerate(self.header)}
        fields = layout.fields(column_of)
        if fields is None:  # a wanted column is missing from the header: every row says why
            for i, raw in enumerate(text.split(b"\n")):
                if raw.rstrip(b"\r"):
                    self._parse_one(raw.rstrip(b"\r"), first_line + i, bad, parts)
            return text.count(b"\n") + (0 if text.endswith(b"\n") else 1)
        out = self.scan(text, self.delimiter if self.fmt == "csv" else "", fields, layout.width)
        # values and codes: the parsed (not deferred) lines only, in order
        values, deferred, lines = out["values"], out["deferred"].view(bool), out["line"] + first_line
        skipped_rows = bad.add_masks(_columnar_reasons(layout, values), lines[~deferred])
        keep = ~skipped_rows
        if keep.any():
            kept = values[keep]
            parts["scores"].append(kept[:, : layout.k] if layout.vector else kept[:, 0])
            parts["labels"].append(kept[:, layout.label_slot].astype(np.int64))
            if self.cols.group is not None:
                names = np.asarray([n.decode("utf-8", "replace") for n in out["names"]] or [""])
                parts["groups"].append(names[out["codes"][keep]])
            if self.cols.time is not None:
                parts["times"].append(kept[:, layout.time_slot].copy())
        starts, stops = out["start"], out["stop"]
        for i in np.flatnonzero(deferred).tolist():
            self._parse_one(text[starts[i] : stops[i]], int(lines[i]), bad, parts)
        return int(out["lines"])


def _split(parts: dict[str, list[Any]], chunk_size: int) -> Iterator[Chunk]:
    if not parts["labels"]:
        return
    labels = np.concatenate(parts["labels"])
    scores = np.concatenate(parts["scores"])
    groups = np.concatenate(parts["groups"]) if parts["groups"] else None
    times = np.concatenate(parts["times"]) if parts["times"] else None
    for b in range(0, len(labels), chunk_size):
        sl = slice(b, b + chunk_size)
        yield Chunk(
            np.ascontiguousarray(scores[sl]),
            labels[sl],
            None if groups is None else groups[sl],
            None if times is None else times[sl],
        )
