"""Reader of real-valued columns for the downstream corrections (``calipers fit lcc|tweedie``
and ``calipers apply`` with a correction): chunks of (prediction, target) pairs, or of rows
and their predictions, from JSONL, CSV/TSV (optionally .gz) or Parquet logs.

A row is skipped, and counted by reason with its first file:line (as the score readers do),
when a wanted field is missing or empty, is not a number (:data:`calipers.io.rows.NUMBER`;
JSON booleans are not numbers), is NaN or infinite, or lies beyond +-1e100 (see
:mod:`calipers._common.reals`); with ``strict`` the first such row raises :class:`MalformedRow`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._common.reals import real_error
from .parquet import check_parquet_types
from .records import Skipped
from .rows import RowChunk, all_rows, number, records

__all__ = ["read_pairs", "read_all_prediction_rows"]


def _real(rec: dict[str, Any], col: str) -> float | str:
    """The field as a finite float, or the reason the row is skipped."""
    if col not in rec or rec[col] is None or rec[col] == "":
        return f"missing field '{col}'"
    try:
        value = number(rec[col])  # the score readers' spelling of a number; booleans are not
    except (ValueError, TypeError):
        return f"'{col}' is not a number"
    if not math.isfinite(value):
        return f"non-finite '{col}'"
    return real_error(value, col) or value


def _rows(
    paths: list[str], columns: tuple[str, ...], strict: bool, skipped: Skipped
) -> Iterator[tuple[dict[str, Any], tuple[float, ...]]]:
    for path in paths:
        check_parquet_types(path, list(columns))
        for lineno, rec in records(path):
            if isinstance(rec, str):
                reason = rec
            else:
                values = [_real(rec, col) for col in columns]
                bad = [v for v in values if isinstance(v, str)]
                if not bad:
                    yield rec, tuple(float(v) for v in values)
                    continue
                reason = str(bad[0])
            skipped.row(reason, f"{path}:{lineno}", strict)


def read_pairs(
    paths: list[str], prediction: str, target: str, *, chunk_size: int, strict: bool, skipped: Skipped
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(predictions, targets) float64 chunks of at most ``chunk_size`` valid rows."""
    pred: list[float] = []
    targ: list[float] = []
    for _, (p, t) in _rows(paths, (prediction, target), strict, skipped):
        pred.append(p)
        targ.append(t)
        if len(pred) >= chunk_size:
            yield np.array(pred), np.array(targ)
            pred, targ = [], []
    if pred:
        yield np.array(pred), np.array(targ)


def read_all_prediction_rows(
    path: str, prediction: str, *, chunk_size: int = 65536, strict: bool = False, skipped: Skipped | None = None
) -> Iterator[RowChunk]:
    """Every row of a log, in chunks (:class:`calipers.io.rows.RowChunk`: records, indices
    of the rows with a valid prediction, their predictions, each row's skip reason or None,
    the text of lines that are not records, positions), as
    :func:`calipers.io.rows.score_rows` gives them for scores, so a corrected column lines
    up with the input rows one for one."""
    skipped = skipped if skipped is not None else Skipped()
    check_parquet_types(path, [prediction])

    def value_of(rec: Any) -> Any:
        return rec if isinstance(rec, str) else _real(rec, prediction)

    yield from all_rows(path, value_of, chunk_size=chunk_size, strict=strict, skipped=skipped)
