"""Parquet logs through pyarrow: row records for the row parser, and a columnar path that
validates record batches with numpy (the row parser's reasons, in its order of
precedence) for scoring and for ``calipers apply``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._common.optional import require
from .formats import log_format
from .records import (
    Chunk,
    Columns,
    Skipped,
    UnreadableFile,
    binary_label_check,
    row_reasons,
    score_checks,
    skip_rows,
    unique_columns,
    whole_label_check,
)
from .times import epoch_seconds


def parquet_file(path: str) -> Any:
    """The ``pyarrow.parquet.ParquetFile`` of a Parquet log; :class:`UnreadableFile` when its
    schema names a column twice (a record would keep one of the columns and lose the
    others, and pyarrow cannot select either by name), as for a CSV header."""
    pq = require("pyarrow.parquet", f"reading {path}")
    file = pq.ParquetFile(path)
    unique_columns(path, list(file.schema_arrow.names), "Parquet", "schema")
    return file


def parquet_records(path: str) -> Iterator[tuple[int, Any]]:
    """(row number, record dict) for each row of a Parquet file, read in record batches."""
    row = 0
    for batch in parquet_file(path).iter_batches(batch_size=65536):
        for rec in batch.to_pylist():
            row += 1
            yield row, rec


def parquet_schema(path: str) -> Any:
    """The file's Arrow schema, or None without pyarrow (the row reader then says why);
    :class:`UnreadableFile` when it names a column twice (see :func:`parquet_file`)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    schema = pq.read_schema(path)
    unique_columns(path, list(schema.names), "Parquet", "schema")
    return schema


def numeric_field(schema: Any, name: str, *, booleans: bool = True) -> bool:
    """Whether ``name`` is a float, integer or decimal column of ``schema`` (or boolean,
    with ``booleans``: a label may be one, a score may not)."""
    import pyarrow as pa

    if name not in schema.names:
        return False
    t = schema.field(name).type
    return bool(
        pa.types.is_floating(t)
        or pa.types.is_integer(t)
        or pa.types.is_decimal(t)
        or (booleans and pa.types.is_boolean(t))
    )


def check_parquet_types(path: str, names: list[str | None]) -> None:
    """UnreadableFile when a wanted column of a Parquet log has a type calipers does not
    read as a value: a date, a time of day or a duration (which unit or epoch would it
    be?). Decimals are read as float64; absent columns are the row parser's to report."""
    if log_format(path) != "parquet":
        return
    schema = parquet_schema(path)
    if schema is None:
        return
    import pyarrow as pa

    for name in names:
        if name is None or name not in schema.names:
            continue
        t = schema.field(name).type
        if pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_duration(t):
            raise UnreadableFile(
                path,
                "unsupported column type",
                f"column {name!r} holds {t} values; calipers reads numbers, and times as epoch numbers, "
                "timestamps or ISO 8601 strings: cast the column",
            )


def parquet_numbers(batch: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column of a record batch as float64 (NaN where null) and its null mask."""
    import pyarrow as pa

    arr = batch.column(batch.schema.get_field_index(name))
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_decimal(arr.type):
        arr = arr.cast(pa.float64())  # the nearest double, as float(Decimal) gives it
    return np.where(missing, np.nan, arr.to_numpy(zero_copy_only=False).astype(np.float64)), missing


def parquet_columnar_ok(path: str, cols: Columns) -> bool:
    """Plain score/label columns of numeric types, with an optional string group column and
    an optional numeric or timestamp (s, ms, us) time column, can be validated column-wise."""
    if cols.probs is not None or cols.prob_columns:
        return False
    schema = parquet_schema(path)
    if schema is None or not (numeric_field(schema, cols.score, booleans=False) and numeric_field(schema, cols.label)):
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
        if not (numeric_field(schema, cols.time) or (pa.types.is_timestamp(t) and t.unit in _TIME_UNITS)):
            return False
    return True


_TIME_UNITS = {"s": 1, "ms": 1000, "us": 1_000_000}


def parquet_times(arr: Any, unit: str = "s") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epoch seconds of a numeric column in ``unit`` (see :mod:`calipers.io.times`) or of a
    timestamp column (its own unit; naive = UTC; whole units divided once, as
    datetime.timestamp() does), with the masks of missing, unreadable and out-of-range
    values, as the row parser decides them."""
    import pyarrow as pa

    missing = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type):
        ticks = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        seconds = ticks / _TIME_UNITS[arr.type.unit]
        _, unreadable, out_of_range = epoch_seconds(seconds, "s")
        return seconds, missing, unreadable, out_of_range
    values = arr.cast(pa.float64(), safe=False).fill_null(0.0).to_numpy(zero_copy_only=False)  # ns ticks > 2^53
    if pa.types.is_boolean(arr.type):
        values = np.full(len(values), np.nan)  # a boolean time is unreadable
    seconds, unreadable, out_of_range = epoch_seconds(values, unit)
    return seconds, missing, unreadable, out_of_range


def parquet_columnar(path: str, cols: Columns, chunk_size: int, strict: bool, skipped: Skipped) -> Iterator[Chunk]:
    """Parquet record batches validated with numpy: the same reasons, in the same order of
    precedence, as the row-by-row reader, at columnar speed."""
    wanted = [cols.score, cols.label] + [c for c in (cols.group, cols.time) if c is not None]
    offset = 0
    for batch in parquet_file(path).iter_batches(batch_size=chunk_size, columns=wanted):
        n = batch.num_rows
        label, label_missing = parquet_numbers(batch, cols.label)
        score, score_missing = parquet_numbers(batch, cols.score)
        reasons = [
            (label_missing, f"missing field '{cols.label}'"),
            whole_label_check(label, cols),
            (score_missing, f"missing field '{cols.score}'"),
            *score_checks(score, cols),
            binary_label_check(label, cols),
        ]
        groups = times = None
        if cols.time:
            times, tmissing, unreadable, out_of_range = parquet_times(
                batch.column(batch.schema.get_field_index(cols.time)), cols.time_unit
            )
            reasons[:0] = [
                (tmissing, f"missing field '{cols.time}'"),
                (unreadable, f"unreadable time '{cols.time}'"),
                (out_of_range, f"'{cols.time}' out of range"),
            ]
        if cols.group:
            garr = batch.column(batch.schema.get_field_index(cols.group))
            encoded = garr.dictionary_encode()
            codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
            names = np.asarray(encoded.dictionary.to_pylist() or [""], dtype=str)
            gmissing = garr.is_null().to_numpy(zero_copy_only=False) | (names[codes] == "")
            reasons.insert(0, (gmissing, f"missing field '{cols.group}'"))
            groups = names[codes]
        bad = skip_rows(reasons, path, offset, strict, skipped)
        keep = ~bad
        offset += n
        if keep.any():
            yield Chunk(
                np.ascontiguousarray(score[keep]),
                label[keep].astype(np.int64),
                None if groups is None else groups[keep],
                None if times is None else times[keep],
            )


def parquet_scores_ok(path: str, cols: Columns) -> bool:
    """A Parquet log whose (scalar) score column is numeric can be calibrated column-wise."""
    if log_format(path) != "parquet" or cols.probs is not None or cols.prob_columns:
        return False
    schema = parquet_schema(path)
    return schema is not None and numeric_field(schema, cols.score, booleans=False)


def read_score_batches(
    path: str, cols: Columns, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[tuple[Any, np.ndarray]]:
    """(record batch of the rows with a valid score, their scores) from a Parquet log
    (see :func:`parquet_scores_ok`), with the row reader's reasons and positions."""
    skipped = skipped if skipped is not None else Skipped()
    offset = 0
    for batch in parquet_file(path).iter_batches(batch_size=chunk_size):
        score, missing = parquet_numbers(batch, cols.score)
        bad = skip_rows(
            [(missing, f"missing field '{cols.score}'"), *score_checks(score, cols)], path, offset, strict, skipped
        )
        offset += batch.num_rows
        if not bad.all():
            keep = np.flatnonzero(~bad)
            yield batch.take(keep), np.ascontiguousarray(score[keep])


def read_scored_batches(
    path: str, cols: Columns, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[tuple[Any, np.ndarray, list[str | None]]]:
    """Every record batch of a Parquet log (see :func:`parquet_scores_ok`) with its scores
    (NaN where a row cannot be scored) and each row's skip reason (None where it can), so
    a calibrated column lines up with the input rows one for one."""
    skipped = skipped if skipped is not None else Skipped()
    offset = 0
    for batch in parquet_file(path).iter_batches(batch_size=chunk_size):
        score, missing = parquet_numbers(batch, cols.score)
        checks = [(missing, f"missing field '{cols.score}'"), *score_checks(score, cols)]
        bad = skip_rows(checks, path, offset, strict, skipped)
        offset += batch.num_rows
        yield batch, np.where(bad, np.nan, score), row_reasons(checks, batch.num_rows)
