"""Chunked readers for prediction logs (JSONL, CSV/TSV, optionally gzipped, and Parquet).

Rows are parsed into float arrays of at most ``chunk_size`` rows, so memory stays constant
whatever the log size. A row that cannot be scored is skipped and counted by reason (with
the first file:line of each reason), never dropped silently.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from .._common.validate import plain
from .formats import log_format
from .parquet import check_parquet_types, parquet_columnar, parquet_columnar_ok
from .records import Chunk, Columns, MalformedRow, Skipped, UnreadableFile
from .rows import RowParser, row_chunks
from .scan import FastReader, scanner

__all__ = ["read_table_chunks", "read_chunks", "guarded", "unreadable_reason", "file_format"]

T = TypeVar("T")


def unreadable_reason(exc: BaseException, path: str | None = None) -> tuple[str, str] | None:
    """(reason, detail) when ``exc`` says a file itself is unreadable (an I/O error, not
    gzip, truncated, corrupt Parquet, not text); None when it is something else (a bug, a
    malformed row under --strict). For a Parquet ``path`` an OSError without an errno is
    pyarrow's (a corrupt file)."""
    import gzip

    if isinstance(exc, (UnreadableFile, MalformedRow)):
        return None
    if path is not None and path.endswith((".parquet", ".pq")) and isinstance(exc, OSError) and exc.errno is None:
        return "not a readable Parquet file", str(exc).strip()
    if isinstance(exc, gzip.BadGzipFile):
        return "not a gzip file", str(exc)
    if isinstance(exc, EOFError):
        return "truncated gzip", "the compressed stream ends before its end marker"
    if isinstance(exc, zlib.error):
        return "corrupt compressed data", str(exc)
    if type(exc).__module__.startswith("pyarrow"):
        return "not a readable Parquet file", str(exc).strip()
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__, "" if exc.strerror else str(exc)
    if isinstance(exc, UnicodeError):
        return "not UTF-8 text", str(exc)
    if isinstance(exc, csv.Error):
        return "unreadable CSV", str(exc)
    return None


def file_format(path: str) -> str:
    """:func:`log_format`, or UnreadableFile ('unknown format') for a name it does not know."""
    try:
        return log_format(path)
    except ValueError as exc:
        raise UnreadableFile(
            path, "unknown format", "expected .jsonl/.ndjson, .csv/.tsv (optionally .gz) or .parquet"
        ) from exc


def guarded(path: str, items: Iterator[T]) -> Iterator[T]:
    """``items`` with every failure that means 'this file cannot be read' turned into one
    :class:`UnreadableFile` naming ``path`` and the reason."""
    try:
        yield from items
    except Exception as exc:
        why = unreadable_reason(exc, path)
        if why is None:
            raise
        raise UnreadableFile(path, *why) from exc


def read_table_chunks(
    paths: list[str],
    cols: Columns,
    *,
    chunk_size: int = 65536,
    strict: bool = False,
    skipped: Skipped | None = None,
    classes: int | None = None,
    fast: bool = True,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Chunk]:
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

    A file that cannot be read at all (missing, not gzip or truncated, corrupt Parquet,
    UTF-16 text, an unknown extension) raises :class:`UnreadableFile` naming it and the
    reason; ``chunk_size`` must be a positive integer.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {plain(chunk_size)}")

    skipped = skipped if skipped is not None else Skipped()
    rows = RowParser(cols, classes, True)  # shared, so a vector width fixed in one file holds in the next
    use_scanner = fast and scanner() is not None
    for path in paths:  # in order, so "first at" is the first in the logs
        yield from guarded(path, _file_chunks(path, cols, rows, chunk_size, strict, skipped, use_scanner, on_bytes))


def _file_chunks(
    path: str,
    cols: Columns,
    rows: RowParser,
    chunk_size: int,
    strict: bool,
    skipped: Skipped,
    use_scanner: bool,
    on_bytes: Callable[[int], None] | None,
) -> Iterator[Chunk]:
    fmt = file_format(path)
    wanted = [cols.score, cols.label, cols.probs, cols.group, cols.time, *(cols.prob_columns or [])]
    check_parquet_types(path, wanted)
    if fmt == "parquet" and parquet_columnar_ok(path, cols):
        yield from parquet_columnar(path, cols, chunk_size, strict, skipped)
    elif use_scanner and (fmt == "jsonl" or (fmt == "csv" and cols.probs is None)):
        yield from FastReader(path, fmt, cols, rows, strict, skipped, on_bytes).chunks(chunk_size)
    else:
        yield from row_chunks(path, cols, rows, chunk_size, strict, skipped)


def read_chunks(
    paths: list[str],
    cols: Columns,
    *,
    chunk_size: int = 65536,
    strict: bool = False,
    skipped: Skipped | None = None,
    classes: int | None = None,
    fast: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (scores, labels) arrays of at most ``chunk_size`` valid rows (see
    :func:`read_table_chunks`)."""
    for chunk in read_table_chunks(
        paths, cols, chunk_size=chunk_size, strict=strict, skipped=skipped, classes=classes, fast=fast
    ):
        yield chunk.scores, chunk.labels
