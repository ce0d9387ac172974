"""Chunked readers for prediction logs (JSONL and CSV, optionally gzipped).

Rows are parsed one by one into float arrays of at most ``chunk_size`` rows, so memory
stays constant whatever the log size. A row that cannot be scored is skipped and counted
by reason (with the first file:line of each reason), never dropped silently.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator

import numpy as np


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

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class MalformedRow(ValueError):
    """A row that cannot be scored (raised in strict mode)."""


@dataclass
class Columns:
    score: str = "score"
    label: str = "label"
    probs: str | None = None  # name of a probability-vector column, instead of score
    prob_columns: list[str] | None = None  # or K columns holding the class probabilities
    group: str | None = None  # optional group key column (--by)
    time: str | None = None  # optional timestamp column (--time): epoch seconds or ISO 8601


@dataclass
class Chunk:
    """Valid rows of a log: scores (n,) or (n, K), labels, and the optional group keys and
    timestamps (epoch seconds)."""

    scores: np.ndarray
    labels: np.ndarray
    groups: list[str] | np.ndarray | None
    times: np.ndarray | None


def parse_time(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string (naive times are UTC)."""
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


def _open(path: str) -> IO[str]:
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _format(path: str) -> str:
    base = path[:-3] if path.endswith(".gz") else path
    if base.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if base.endswith((".csv", ".tsv")):
        return "csv"
    if path.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(f"cannot tell the format of {path!r}: expected .jsonl/.ndjson, .csv/.tsv (optionally .gz) "
                     "or .parquet")


def _delimiter(path: str) -> str:
    """Tab for .tsv (optionally .gz), else comma."""
    return "\t" if path.removesuffix(".gz").endswith(".tsv") else ","


def _parquet_records(path: str) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ValueError(f"reading {path} needs pyarrow: pip install pyarrow") from exc
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
        for rec in batch.to_pylist():
            row += 1
            yield row, rec


def _records(path: str) -> Iterator[tuple[int, Any]]:
    """(line number, dict or parse-error string) for each data row."""
    fmt = _format(path)
    if fmt == "parquet":  # positions are row numbers (1-based) rather than lines
        yield from _parquet_records(path)
        return
    with _open(path) as fh:
        if fmt == "jsonl":
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    yield lineno, "invalid JSON"
                    continue
                yield lineno, rec if isinstance(rec, dict) else "not a JSON object"
        else:
            reader = csv.DictReader(fh, delimiter=_delimiter(path))
            for rec in reader:
                yield reader.line_num, rec


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


class _Rows:
    """Parses rows in order, remembering the probability-vector width of the first valid row."""

    def __init__(self, cols: Columns, classes: int | None, with_label: bool) -> None:
        self.cols, self.width, self.with_label = cols, classes, with_label

    def parse(self, rec: Any) -> tuple[Any, int, str | None, float | None] | str:
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
            when = parse_time(raw)
            if when is None:
                return f"unreadable time '{self.cols.time}'"
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


def _valid_rows(paths: list[str], rows: _Rows, strict: bool, skipped: Skipped) -> Iterator[tuple[Any, ...]]:
    """(record, score, label, group, time) for each valid row; the others are counted (or raise)."""
    for path in paths:
        for lineno, rec in _records(path):
            parsed = rows.parse(rec)
            if isinstance(parsed, str):
                where = f"{path}:{lineno}"
                if strict:
                    raise MalformedRow(f"{where}: {parsed}")
                skipped.add(parsed, where)
                continue
            yield (rec, *parsed)


def _parquet_schema(path: str) -> Any:
    """The file's Arrow schema, or None without pyarrow (the row reader then says why)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pq.read_schema(path)


def _numeric_field(schema: Any, name: str) -> bool:
    import pyarrow as pa

    if name not in schema.names:
        return False
    t = schema.field(name).type
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t))


def _parquet_numbers(batch: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column of a record batch as float64 (NaN where null) and its null mask."""
    arr = batch.column(batch.schema.get_field_index(name))
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    return np.where(missing, np.nan, arr.to_numpy(zero_copy_only=False).astype(np.float64)), missing


# The row parser's checks on numbers that are present, as columnar masks (same messages).
def score_checks(score: np.ndarray, cols: Columns) -> list[tuple[np.ndarray, str]]:
    with np.errstate(invalid="ignore"):
        return [(np.isnan(score), f"NaN '{cols.score}'"),
                (~((score >= 0.0) & (score <= 1.0)), f"'{cols.score}' outside [0, 1]")]


def whole_label_check(label: np.ndarray, cols: Columns) -> tuple[np.ndarray, str]:
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(label) & (label == np.floor(label))), f"'{cols.label}' is not an integer"


def binary_label_check(label: np.ndarray, cols: Columns) -> tuple[np.ndarray, str]:
    return (label != 0) & (label != 1), f"'{cols.label}' not 0 or 1"


def _parquet_columnar_ok(path: str, cols: Columns) -> bool:
    """Plain score/label columns of numeric types, with an optional string group column and
    an optional numeric or timestamp (s, ms, us) time column, can be validated column-wise."""
    if cols.probs is not None or cols.prob_columns:
        return False
    schema = _parquet_schema(path)
    if schema is None or not (_numeric_field(schema, cols.score) and _numeric_field(schema, cols.label)):
        return False
    import pyarrow as pa

    if cols.group is not None:
        if cols.group not in schema.names:
            return False
        t = schema.field(cols.group).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            return False  # str() of other types is Python's spelling: the row reader keeps it
    if cols.time is not None:
        if cols.time not in schema.names:
            return False
        t = schema.field(cols.time).type
        if not (_numeric_field(schema, cols.time) or (pa.types.is_timestamp(t) and t.unit in _TIME_UNITS)):
            return False
    return True


_TIME_UNITS = {"s": 1, "ms": 1000, "us": 1_000_000}


def _parquet_times(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of a numeric or timestamp column as parse_time gives them (naive = UTC;
    whole units divided once, as datetime.timestamp() does), and the missing mask."""
    import pyarrow as pa

    missing = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type):
        ticks = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return ticks / _TIME_UNITS[arr.type.unit], missing
    values = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(arr.type):
        values = np.full(len(values), np.nan)  # parse_time(True) is unreadable
    return values, missing


def _parquet_columnar(path: str, cols: Columns, chunk_size: int, strict: bool, skipped: Skipped) -> Iterator[Chunk]:
    """Parquet record batches validated with numpy: the same reasons, in the same order of
    precedence, as the row-by-row reader, at columnar speed."""
    import pyarrow.parquet as pq

    wanted = [cols.score, cols.label] + [c for c in (cols.group, cols.time) if c is not None]
    offset = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size, columns=wanted):
        n = batch.num_rows
        label, label_missing = _parquet_numbers(batch, cols.label)
        score, score_missing = _parquet_numbers(batch, cols.score)
        reasons = [(label_missing, f"missing field '{cols.label}'"), whole_label_check(label, cols),
                   (score_missing, f"missing field '{cols.score}'"), *score_checks(score, cols),
                   binary_label_check(label, cols)]
        groups = times = None
        if cols.time:
            times, tmissing = _parquet_times(batch.column(batch.schema.get_field_index(cols.time)))
            reasons[:0] = [(tmissing, f"missing field '{cols.time}'"),
                           (~np.isfinite(times), f"unreadable time '{cols.time}'")]
        if cols.group:
            garr = batch.column(batch.schema.get_field_index(cols.group))
            encoded = garr.dictionary_encode()
            codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
            names = np.asarray(encoded.dictionary.to_pylist() or [""], dtype=str)
            gmissing = garr.is_null().to_numpy(zero_copy_only=False) | (names[codes] == "")
            reasons.insert(0, (gmissing, f"missing field '{cols.group}'"))
            groups = names[codes]
        bad = _skip_rows(reasons, path, offset, strict, skipped)
        keep = ~bad
        offset += n
        if keep.any():
            yield Chunk(np.ascontiguousarray(score[keep]), label[keep].astype(np.int64),
                        None if groups is None else groups[keep], None if times is None else times[keep])


class SkipTally:
    """Rows skipped in one columnar batch: reason -> [count, first position]. ``flush``
    adds them to :class:`Skipped` in order of first position, as the row reader adds them,
    so 'first at' stays the first in the logs; in strict mode it raises at the first one."""

    def __init__(self) -> None:
        self.reasons: dict[str, list[int]] = {}

    def add(self, reason: str, position: int, count: int = 1) -> None:
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
        ordered = sorted(self.reasons.items(), key=lambda item: item[1][1])
        if strict and ordered:
            reason, (_, position) = ordered[0]
            raise MalformedRow(f"{path}:{position}: {reason}")
        for reason, (count, position) in ordered:
            skipped.add(reason, f"{path}:{position}", count)


def _skip_rows(reasons: list[tuple[np.ndarray, str]], path: str, offset: int, strict: bool,
               skipped: Skipped) -> np.ndarray:
    """The skipped-row mask of a columnar batch whose rows start after ``offset``."""
    tally = SkipTally()
    bad = tally.add_masks(reasons, offset + 1 + np.arange(len(reasons[0][0])))
    tally.flush(path, strict, skipped)
    return bad


def read_table_chunks(paths: list[str], cols: Columns, *, chunk_size: int = 65536, strict: bool = False,
                      skipped: Skipped | None = None, classes: int | None = None, fast: bool = True,
                      on_bytes: Callable[[int], None] | None = None) -> Iterator[Chunk]:
    """Yield :class:`Chunk` s of at most ``chunk_size`` valid rows.

    With ``cols.probs`` (or ``cols.prob_columns``) the scores are (n, K); rows whose vector
    length differs from the first valid row (or from ``classes``) are skipped as 'wrong
    vector length', and rows whose sum is off by more than 1e-4 as 'probabilities do not
    sum to 1'.

    CSV and JSONL go through the C++ line scanner when the extension is built (``fast=False``
    forces the row-by-row reader; both give the same rows and reasons). The scanner takes a
    line as one record, so a CSV field quoted across lines becomes broken rows, counted.
    A probability-vector column inside CSV (a JSON list in a cell) is read row by row.
    ``on_bytes(position)`` hears how far into the current file (on disk) the scanner is.
    """
    from ._fast_reader import FastReader, scanner

    skipped = skipped if skipped is not None else Skipped()
    rows = _Rows(cols, classes, True)  # shared, so a vector width fixed in one file holds in the next
    use_scanner = fast and scanner() is not None
    for path in paths:  # in order, so "first at" is the first in the logs
        fmt = _format(path)
        if fmt == "parquet" and _parquet_columnar_ok(path, cols):
            yield from _parquet_columnar(path, cols, chunk_size, strict, skipped)
        elif use_scanner and (fmt == "jsonl" or (fmt == "csv" and cols.probs is None)):
            yield from FastReader(path, fmt, cols, rows, strict, skipped, on_bytes).chunks(chunk_size)
        else:
            yield from _row_chunks(path, cols, rows, chunk_size, strict, skipped)


def _row_chunks(path: str, cols: Columns, rows: _Rows, chunk_size: int, strict: bool,
                skipped: Skipped) -> Iterator[Chunk]:
    scores: list[Any] = []
    labels: list[int] = []
    groups: list[str] = []
    times: list[float] = []

    def flush() -> Chunk:
        return Chunk(np.asarray(scores, np.float64), np.asarray(labels, np.int64),
                     list(groups) if cols.group is not None else None,
                     np.asarray(times, np.float64) if cols.time is not None else None)

    for _, score, label, group, when in _valid_rows([path], rows, strict, skipped):
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


def read_chunks(paths: list[str], cols: Columns, *, chunk_size: int = 65536, strict: bool = False,
                skipped: Skipped | None = None, classes: int | None = None, fast: bool = True
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (scores, labels) arrays of at most ``chunk_size`` valid rows (see
    :func:`read_table_chunks`)."""
    for chunk in read_table_chunks(paths, cols, chunk_size=chunk_size, strict=strict, skipped=skipped,
                                   classes=classes, fast=fast):
        yield chunk.scores, chunk.labels


def parquet_scores_ok(path: str, cols: Columns) -> bool:
    """A Parquet log whose (scalar) score column is numeric can be calibrated column-wise."""
    if _format(path) != "parquet" or cols.probs is not None or cols.prob_columns:
        return False
    schema = _parquet_schema(path)
    return schema is not None and _numeric_field(schema, cols.score)


def read_score_batches(path: str, cols: Columns, *, chunk_size: int = 65536, strict: bool = False,
                       skipped: Skipped | None = None) -> Iterator[tuple[Any, np.ndarray]]:
    """(record batch of the rows with a valid score, their scores) from a Parquet log
    (see :func:`parquet_scores_ok`), with the row reader's reasons and positions."""
    import pyarrow.parquet as pq

    skipped = skipped if skipped is not None else Skipped()
    offset = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
        score, missing = _parquet_numbers(batch, cols.score)
        bad = _skip_rows([(missing, f"missing field '{cols.score}'"), *score_checks(score, cols)], path, offset,
                         strict, skipped)
        offset += batch.num_rows
        if not bad.all():
            keep = np.flatnonzero(~bad)
            yield batch.take(keep), np.ascontiguousarray(score[keep])


def read_record_chunks(paths: list[str], cols: Columns, *, chunk_size: int = 65536, strict: bool = False,
                       skipped: Skipped | None = None) -> Iterator[tuple[list[dict[str, Any]], np.ndarray]]:
    """Yield (records, scores) for rows with a valid score (labels are not needed), so a
    calibrated column can be appended to each record."""
    skipped = skipped if skipped is not None else Skipped()
    records: list[dict[str, Any]] = []
    scores: list[Any] = []
    for rec, score, *_ in _valid_rows(paths, _Rows(cols, None, False), strict, skipped):
        records.append(rec)
        scores.append(score)
        if len(records) >= chunk_size:
            yield records, np.asarray(scores, np.float64)
            records, scores = [], []
    if records:
        yield records, np.asarray(scores, np.float64)
