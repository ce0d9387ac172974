"""The row-by-row reader: the reference for what a valid row is and why a row is skipped.
Every faster path (the C++ line scanner, columnar Parquet) gives the same rows and reasons."""

from __future__ import annotations

import csv
import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from .._common import jsontext
from .formats import delimiter, log_format, open_binary
from .parquet import parquet_records
from .records import Chunk, Columns, Skipped, UnreadableFile, WideNumber, unique_columns
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


def _wide_float(text: str) -> float:
    """``json.loads``'s parse_float: the float of ``text``, or a :class:`WideNumber` keeping
    the text when the number is beyond float range (Python reads it as an infinity)."""
    value = float(text)
    return WideNumber(text) if math.isinf(value) else value


# built once: json.loads with a hook would build a decoder per call (2 us, half a row's time).
# The parse_float hook costs about 0.07 us a float (1.60 -> 1.74 us for a 4-field line);
# searching each line for a number that might be beyond float range cost 0.8 us.
_RECORDS = json.JSONDecoder(object_pairs_hook=jsontext.unique_keys, parse_float=_wide_float)


def json_record(text: str) -> dict[str, Any] | str:
    """A JSONL line as a record, or the reason it is skipped: 'invalid JSON', 'JSON nested
    too deeply' (more than :data:`calipers._common.jsontext.MAX_DEPTH` levels), 'duplicate
    key 'K'' (an object at any level names K twice: which value would count?) or 'not a
    JSON object'. The row reader and the C++ scanner's deferred lines both go through it
    (the scanner defers any line whose objects repeat a key). A number beyond float range
    is a :class:`WideNumber` (an infinity that keeps its text)."""
    if jsontext.nesting_error(text) is not None:
        return "JSON nested too deeply"
    try:
        rec = _RECORDS.decode(text)
    except jsontext.DuplicateKeyError as exc:  # before JSONDecodeError: both are ValueErrors
        return f"duplicate key {exc.key!r}"
    except json.JSONDecodeError:
        return "invalid JSON"
    return rec if isinstance(rec, dict) else "not a JSON object"


def records(path: str) -> Iterator[tuple[int, Any]]:
    """(line number, dict or parse-error string) for each data row (see :func:`lines`)."""
    for lineno, rec, _ in lines(path):
        yield lineno, rec


def lines(path: str) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, dict or parse-error string, the line's text when it is not a record,
    else None) for each data row. JSONL lines are split on LF alone and decoded one by one
    (a line that is not UTF-8 is 'invalid UTF-8', its text kept with its bad bytes as
    ``\\xNN`` escapes), as the C++ scanner does; CSV lines go one by one through the csv
    module (a field quoted across lines is not joined: the scanner reads it that way too)."""
    fmt = log_format(path)
    if fmt == "parquet":  # positions are row numbers (1-based) rather than lines
        for row, rec in parquet_records(path):
            yield row, rec, None
        return
    if fmt == "jsonl":
        with open_binary(path) as raw:
            for lineno, line in enumerate(raw, start=1):
                if not line.strip():
                    continue
                line = line.removesuffix(b"\n").removesuffix(b"\r")
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    yield lineno, "invalid UTF-8", line.decode("utf-8", "backslashreplace")
                    continue
                rec = json_record(text)
                yield lineno, rec, text if isinstance(rec, str) else None
        return
    sep = delimiter(path)
    with open_binary(path) as raw:
        # One physical line, one record, as the C++ line scanner reads them (see
        # :func:`csv_line`): a quoted field is never continued on the next line, so a field
        # quoted across lines is read as broken rows, counted (csv.DictReader would join
        # them, and the two readers would disagree).
        header: list[str] | None = None
        for number, line in enumerate(raw, start=1):
            text_line = csv_line(line)
            if header is None:
                header = csv_header(text_line, sep, path)
                continue
            fields = csv_fields(text_line, sep)
            if isinstance(fields, str):
                yield number, fields, text_line
            elif fields:  # blank lines are skipped, as csv.DictReader skips them
                yield number, csv_record(header, fields), None


def header_columns(path: str) -> list[str] | None:
    """The column names of a CSV log (its header) or a Parquet log (its schema); None for
    JSONL, whose rows name their own fields."""
    fmt = log_format(path)
    if fmt == "parquet":
        from .parquet import parquet_schema

        schema = parquet_schema(path)
        return None if schema is None else list(schema.names)
    if fmt == "jsonl":
        return None
    with open_binary(path) as raw:
        return csv_header(csv_line(raw.readline()), delimiter(path), path)


def csv_line(raw: bytes) -> str:
    """A CSV line's text: its LF and one CR before it cut (as the C++ scanner cuts them),
    undecodable bytes as U+FFFD. A CR anywhere else stays in the line (see :func:`csv_fields`)."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "replace")


def csv_fields(text: str, sep: str) -> list[str] | str:
    """The fields of one CSV line (from :func:`csv_line`), or the reason the row is skipped:
    'stray CR in an unquoted CSV field' (lines end at LF alone; a CR inside a quoted field
    is text), or 'malformed CSV row (...)' for any other complaint of the csv module (a
    field over its size limit)."""
    try:
        return next(csv.reader([text], delimiter=sep), [])
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            return _wide_csv_fields(text, sep)
        return _csv_reason(exc)


def _csv_reason(exc: csv.Error) -> str:
    """Why a CSV line is skipped, from the csv module's error."""
    if "new-line character" in str(exc):
        return "stray CR in an unquoted CSV field"
    return f"malformed CSV row ({exc})"


_FIELD_LIMIT = threading.Lock()


def _wide_csv_fields(text: str, sep: str) -> list[str] | str:
    """:func:`csv_fields` of a line with a field over the csv module's size limit (131072
    characters by default; a probability vector of 8000 classes is longer). The limit guards
    memory, and the line is in memory already: it is raised to the line's length for this
    parse (under a lock: the limit is process-wide) and put back."""
    with _FIELD_LIMIT:
        before = csv.field_size_limit()
        csv.field_size_limit(max(before, len(text) + 1))
        try:
            return next(csv.reader([text], delimiter=sep), [])
        except csv.Error as exc:
            return _csv_reason(exc)
        finally:
            csv.field_size_limit(before)


def csv_record(header: list[str], fields: list[str]) -> dict[str, str | None]:
    """A CSV row as a record: a field the row lacks is None (missing); a field beyond the
    header is kept under ``field_N`` (N its 1-based column), never dropped or put under a
    column named None."""
    rec: dict[str, str | None] = dict(zip(header, fields))
    for name in header[len(fields) :]:
        rec[name] = None
    for position in range(len(header), len(fields)):
        name = f"field_{position + 1}"
        while name in rec:  # a header may name a column field_N itself
            name += "_"
        rec[name] = fields[position]
    return rec


def csv_header(text: str, sep: str, path: str) -> list[str]:
    """The column names of a CSV header line; :class:`UnreadableFile` when the line cannot
    be parsed or names a column twice (which value would a row's field be?)."""
    fields = csv_fields(text, sep)
    if isinstance(fields, str):
        raise UnreadableFile(path, "unreadable CSV header", fields)
    unique_columns(path, fields, "CSV", "header")
    return fields


# The one spelling of a number in a log cell or a JSON string (CSV and JSONL, score, label,
# probabilities, prediction and target alike): ASCII decimal or scientific notation, or
# nan / inf / infinity (so the NaN and range rules apply), optionally signed, with spaces or
# tabs around it. Not Python's float() (which takes "1_0", full-width digits, other spaces).
NUMBER = re.compile(r"[ \t]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)[ \t]*", re.I | re.A)


def number(value: Any, *, booleans: bool = False) -> float:
    """A log value as a float: a JSON number, or a string spelled as :data:`NUMBER` allows;
    a boolean only with ``booleans`` (a label may be true/false: 1/0); ValueError otherwise."""
    if isinstance(value, bool):
        if booleans:
            return float(value)
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float, Decimal)):  # a Decimal: a Parquet decimal column
        return float(value)
    if isinstance(value, str) and NUMBER.fullmatch(value):
        return float(value)
    raise ValueError(f"not a number: {value!r}")


# A label spelled as a boolean in text (a CSV cell: pandas writes True/False, spreadsheets
# TRUE/FALSE), with spaces or tabs around it as a number may have: 1 or 0.
_BOOLEAN_TEXT = {"true": 1.0, "True": 1.0, "TRUE": 1.0, "false": 0.0, "False": 0.0, "FALSE": 0.0}


def _parse_label(rec: dict[str, Any], cols: Columns) -> int | str:
    """The integer label, or the reason the row is skipped. A label may be a boolean: JSON
    true/false, or the text true/false, True/False or TRUE/FALSE (1/0)."""
    if cols.label not in rec or rec[cols.label] in (None, ""):
        return f"missing field '{cols.label}'"
    raw = rec[cols.label]
    if isinstance(raw, str) and raw.strip(" \t") in _BOOLEAN_TEXT:
        return int(_BOOLEAN_TEXT[raw.strip(" \t")])
    try:
        label_f = number(raw, booleans=True)
    except (ValueError, TypeError):
        return f"non-numeric '{cols.label}'"
    if not math.isfinite(label_f) or label_f != int(label_f):
        return f"'{cols.label}' is not an integer"
    return int(label_f)


def _probabilities(values: list[Any], what: str) -> list[float] | str:
    """The values as probabilities, or the reason the row is skipped."""
    try:
        probs = [number(v) for v in values]
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
            score = number(rec[cols.score])
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
            raw = jsontext.loads(raw)
        except jsontext.JSONNestingError:
            return f"'{cols.probs}' is JSON nested too deeply"
        except json.JSONDecodeError:
            return f"'{cols.probs}' is not a list"
    if not isinstance(raw, list) or not raw:
        return f"'{cols.probs}' is not a list"
    return _probabilities(raw, f"'{cols.probs}'")


def group_text(raw: Any) -> str:
    """The ``--by`` key of a JSON or Parquet value: its text, with the library's group-key
    rule for numbers (an integer-valued float is the integer it equals, so JSON 1, 1.0 and
    1e0, or an int64 and a float64 column, give the one group '1', at any magnitude: 2e20 and
    200000000000000000000 are one group, as in ``calipers.pce``), and booleans spelled as JSON
    spells them ('true', 'false'; a string "True" stays "True"), objects and arrays as compact
    JSON text (``{"a":1}``, not Python's ``{'a': 1}``).
    A CSV cell is text and is kept as written."""
    if isinstance(raw, bool):  # before numbers: True is an int in Python
        return "true" if raw else "false"
    if isinstance(raw, (dict, list)):  # a JSON object or array (a Parquet struct or list): its JSON text
        return json.dumps(raw, separators=(",", ":"), ensure_ascii=False, default=str)
    if isinstance(raw, float) and math.isfinite(raw) and raw == math.floor(raw):
        return str(int(raw))
    return str(raw)


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
            group = group_text(raw)
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


class RowChunk(NamedTuple):
    """A chunk of every row of a log, in order (what ``calipers apply`` writes back)."""

    records: list[dict[str, Any]]  # an empty dict for a line that is not a record
    good: np.ndarray  # indices of the rows with a valid value
    values: list[Any]  # their values
    reasons: list[str | None]  # each row's skip reason, or None
    raws: list[str | None]  # each row's original text when it is not a record, else None
    positions: list[int]  # each row's line (CSV, JSONL) or row number (Parquet), 1-based


def all_rows(
    path: str, value_of: Callable[[Any], Any], *, chunk_size: int, strict: bool, skipped: Skipped
) -> Iterator[RowChunk]:
    """Every row of a log in chunks of ``chunk_size``; ``value_of(record or reason)`` gives
    a row's value or the reason (a str) it is skipped. A line that is not a record comes out
    as an empty record with its reason and its original text, so output rows line up with
    the input rows one for one and nothing of the input is lost (blank lines are not rows)."""
    chunk = RowChunk([], np.zeros(0, np.int64), [], [], [], [])
    good: list[int] = []
    for lineno, rec, raw in lines(path):
        value = value_of(rec)
        if isinstance(value, str):
            skipped.row(value, f"{path}:{lineno}", strict)
            chunk.reasons.append(value)
        else:
            good.append(len(chunk.records))
            chunk.values.append(value)
            chunk.reasons.append(None)
        chunk.records.append(rec if isinstance(rec, dict) else {})
        chunk.raws.append(raw)
        chunk.positions.append(lineno)
        if len(chunk.records) >= chunk_size:
            yield chunk._replace(good=np.asarray(good, np.int64))
            chunk, good = RowChunk([], np.zeros(0, np.int64), [], [], [], []), []
    if chunk.records:
        yield chunk._replace(good=np.asarray(good, np.int64))


def read_all_records(
    path: str, cols: Columns, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[tuple[list[dict[str, Any]], np.ndarray, Any, list[str | None]]]:
    """Every row of a log, in chunks of ``chunk_size``: (records, indices of the rows with a
    valid score, their scores, each row's skip reason or None). A row that is not a JSON
    object comes out as an empty record with its reason, so output rows line up with the
    input rows one for one (blank lines are not rows; :func:`all_rows` also gives each
    such line's text)."""
    for chunk in score_rows(path, cols, chunk_size=chunk_size, strict=strict, skipped=skipped):
        yield chunk.records, chunk.good, chunk.values, chunk.reasons


def score_rows(
    path: str, cols: Columns, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[RowChunk]:
    """:func:`all_rows` whose values are the rows' scores (labels are not needed)."""
    parser = RowParser(cols, None, False)

    def value_of(rec: Any) -> Any:
        parsed = parser.parse(rec)
        return parsed if isinstance(parsed, str) else parsed[0]

    skipped = skipped if skipped is not None else Skipped()
    yield from all_rows(path, value_of, chunk_size=chunk_size, strict=strict, skipped=skipped)
