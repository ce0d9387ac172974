"""The row-by-row reader: the reference for what a valid row is and why a row is skipped.
Every faster path (the C++ line scanner, columnar Parquet) gives the same rows and reasons."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .formats import delimiter, log_format, open_binary, open_text
from .parquet import parquet_records
from .records import Chunk, Columns, Skipped
from .times import OUT_OF_RANGE, UNREADABLE, time_value


def parse_time(value: Any) -> float | None:
    """Epoch seconds from a number (taken as seconds) or an ISO 8601 string (naive times
    are UTC); None when unreadable. The readers use :func:`calipers.io.times.time_value`,
    which also takes milliseconds, microseconds and nanoseconds and checks the range."""
    from datetime import datetime, timezone

    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    return None


def records(path: str) -> Iterator[tuple[int, Any]]:
    """(line number, dict or parse-error string) for each data row. JSONL lines are split
    on LF alone and decoded one by one (a line that is not UTF-8 is 'invalid UTF-8'), as
    the C++ scanner does; CSV lines go one by one through the csv module (a field quoted
    across lines is not joined: the scanner reads it that way too)."""
    fmt = log_format(path)
    if fmt == "parquet":  # positions are row numbers (1-based) rather than lines
        yield from parquet_records(path)
        return
    if fmt == "jsonl":
        with open_binary(path) as raw:
            for lineno, line in enumerate(raw, start=1):
                if not line.strip():
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    yield lineno, "invalid UTF-8"
                    continue
                try:
                    rec = json.loads(text)
                except json.JSONDecodeError:
                    yield lineno, "invalid JSON"
                    continue
                yield lineno, rec if isinstance(rec, dict) else "not a JSON object"
        return
    sep = delimiter(path)
    with open_text(path) as fh:
        # One physical line, one record, as the C++ line scanner reads them: a quoted field is
        # never continued on the next line, so a field quoted across lines is read as broken
        # rows, counted (csv.DictReader would join them, and the two readers would disagree).
        header: list[str] | None = None
        for number, text_line in enumerate(fh, start=1):
            fields = next(csv.reader([text_line], delimiter=sep), [])
            if header is None:
                header = fields
            elif fields:  # blank lines are skipped, as csv.DictReader skips them
                yield number, dict(zip(header, fields))


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        return float(value)
    raise ValueError


def _parse_label(rec: dict[str, Any], cols: Columns) -> int | str:
    """The integer label, or the reason the row is skipped."""
    if cols.label not in rec or rec[cols.label] in (None, ""):
        return f"missing field '{cols.label}'"
    try:
        label_f = _number(rec[cols.label])
    except (ValueError, TypeError):
        return f"non-numeric '{cols.label}'"
    if not math.isfinite(label_f) or label_f != int(label_f):
        return f"'{cols.label}' is not an integer"
    return int(label_f)


def _probabilities(values: list[Any], what: str) -> list[float] | str:
    """The values as probabilities, or the reason the row is skipped."""
    try:
        probs = [_number(v) for v in values]
    except (ValueError, TypeError):
        return f"non-numeric {what}"
    if any(math.isnan(v) for v in probs):
        return f"NaN in {what}"
    if any(not 0.0 <= v <= 1.0 for v in probs):
        return f"{what} outside [0, 1]"
    return probs


def _parse_score(rec: dict[str, Any], cols: Columns) -> float | list[float] | str:
    """The score (or probability vector), or the reason the row is skipped."""
    if cols.prob_columns:
        missing = [c for c in cols.prob_columns if rec.get(c) in (None, "")]
        if missing:
            return f"missing field '{missing[0]}'"
        return _probabilities([rec[c] for c in cols.prob_columns], "probability columns")
    if cols.probs is None:
        if cols.score not in rec or rec[cols.score] in (None, ""):
            return f"missing field '{cols.score}'"
        try:
            score = _number(rec[cols.score])
        except (ValueError, TypeError):
            return f"non-numeric '{cols.score}'"
        if math.isnan(score):
            return f"NaN '{cols.score}'"
        if not 0.0 <= score <= 1.0:
            return f"'{cols.score}' outside [0, 1]"
        return score
    raw = rec.get(cols.probs)
    if raw is None:
        return f"missing field '{cols.probs}'"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return f"'{cols.probs}' is not a list"
    if not isinstance(raw, list) or not raw:
        return f"'{cols.probs}' is not a list"
    return _probabilities(raw, f"'{cols.probs}'")


class RowParser:
    """Parses rows in order, remembering the probability-vector width of the first valid row."""

    def __init__(self, cols: Columns, classes: int | None, with_label: bool) -> None:
        self.cols, self.width, self.with_label = cols, classes, with_label

    def parse(self, rec: Any) -> tuple[Any, int, str | None, float | None] | str:
        """(score, label, group, time) of a record, or the reason it is skipped (a str)."""
        if isinstance(rec, str):
            return rec
        group: str | None = None
        when: float | None = None
        if self.cols.group is not None:
            raw = rec.get(self.cols.group)
            if raw is None or raw == "":
                return f"missing field '{self.cols.group}'"
            group = str(raw)
        if self.cols.time is not None:
            raw = rec.get(self.cols.time)
            if raw is None or raw == "":
                return f"missing field '{self.cols.time}'"
            seconds = time_value(raw, self.cols.time_unit)
            if seconds == UNREADABLE:
                return f"unreadable time '{self.cols.time}'"
            if seconds == OUT_OF_RANGE:
                return f"'{self.cols.time}' out of range"
            when = float(seconds)
        label: int | str = 0
        if self.with_label:
            label = _parse_label(rec, self.cols)
            if isinstance(label, str):
                return label
        score = _parse_score(rec, self.cols)
        if isinstance(score, str):
            return score
        if isinstance(score, list):
            if self.width is None:
                self.width = len(score)
            if len(score) != self.width:
                return "wrong vector length"
            if abs(math.fsum(score) - 1.0) > 1e-4:
                return "probabilities do not sum to 1"
            if self.with_label and not 0 <= label < self.width:  # type: ignore[operator]
                return f"'{self.cols.label}' out of range"
        elif self.with_label and label not in (0, 1):
            return f"'{self.cols.label}' not 0 or 1"
        return score, label, group, when  # type: ignore[return-value]


def valid_rows(paths: list[str], rows: RowParser, strict: bool, skipped: Skipped) -> Iterator[tuple[Any, ...]]:
    """(record, score, label, group, time) for each valid row; the others are counted (or raise)."""
    for path in paths:
        for lineno, rec in records(path):
            parsed = rows.parse(rec)
            if isinstance(parsed, str):
                skipped.row(parsed, f"{path}:{lineno}", strict)
                continue
            yield (rec, *parsed)


def row_chunks(
    path: str, cols: Columns, rows: RowParser, chunk_size: int, strict: bool, skipped: Skipped
) -> Iterator[Chunk]:
    """Chunks of at most ``chunk_size`` valid rows of one file, parsed row by row."""
    scores: list[Any] = []
    labels: list[int] = []
    groups: list[str] = []
    times: list[float] = []

    def flush() -> Chunk:
        return Chunk(
            np.asarray(scores, np.float64),
            np.asarray(labels, np.int64),
            list(groups) if cols.group is not None else None,
            np.asarray(times, np.float64) if cols.time is not None else None,
        )

    for _, score, label, group, when in valid_rows([path], rows, strict, skipped):
        scores.append(score)
        labels.append(label)
        if group is not None:
            groups.append(group)
        if when is not None:
            times.append(when)
        if len(labels) >= chunk_size:
            yield flush()
            scores, labels, groups, times = [], [], [], []
    if labels:
        yield flush()


def read_record_chunks(
    paths: list[str], cols: Columns, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[tuple[list[dict[str, Any]], np.ndarray]]:
    """Yield (records, scores) for rows with a valid score (labels are not needed), so a
    calibrated column can be appended to each record."""
    skipped = skipped if skipped is not None else Skipped()
    records: list[dict[str, Any]] = []
    scores: list[Any] = []
    for rec, score, *_ in valid_rows(paths, RowParser(cols, None, False), strict, skipped):
        records.append(rec)
        scores.append(score)
        if len(records) >= chunk_size:
            yield records, np.asarray(scores, np.float64)
            records, scores = [], []
    if records:
        yield records, np.asarray(scores, np.float64)


def read_all_records(
    path: str, cols: Columns, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[tuple[list[dict[str, Any]], np.ndarray, Any, list[str | None]]]:
    """Every row of a log, in chunks of ``chunk_size``: (records, indices of the rows with a
    valid score, their scores, each row's skip reason or None). A row that is not a JSON
    object comes out as an empty record with its reason, so output rows line up with the
    input rows one for one (blank lines are not rows)."""
    skipped = skipped if skipped is not None else Skipped()
    parser = RowParser(cols, None, False)
    recs: list[dict[str, Any]] = []
    good: list[int] = []
    scores: list[Any] = []
    reasons: list[str | None] = []
    for lineno, rec in records(path):
        parsed = parser.parse(rec)
        if isinstance(parsed, str):
            skipped.row(parsed, f"{path}:{lineno}", strict)
            reasons.append(parsed)
        else:
            good.append(len(recs))
            scores.append(parsed[0])
            reasons.append(None)
        recs.append(rec if isinstance(rec, dict) else {})
        if len(recs) >= chunk_size:
            yield recs, np.asarray(good, np.int64), scores, reasons
            recs, good, scores, reasons = [], [], [], []
    if recs:
        yield recs, np.asarray(good, np.int64), scores, reasons
