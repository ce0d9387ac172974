"""Timestamps in logs: epoch numbers in seconds, milliseconds, microseconds or nanoseconds
(set with ``--time-unit`` or detected per value), ISO 8601 strings, and the range a time
must lie in to be labelled (years 1 to 9999, what ``datetime`` can print).

Detection (``unit="auto"``) reads a number as seconds when it is a time in seconds within
years 1-9999 (|t| < 2.5e11), else as milliseconds, microseconds or nanoseconds, the first
unit in which it is; beyond that it is out of range. So epoch seconds, milliseconds
(JavaScript's ``Date.now()``), microseconds and nanoseconds of any date since 1978 are
read right; an epoch-millisecond time before 1978-01-12 (below 2.5e11) would be read as
seconds: give ``--time-unit ms`` for such logs. ISO 8601 strings carry their own unit.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np

__all__ = ["TIME_UNITS", "MIN_EPOCH", "MAX_EPOCH", "epoch_seconds", "time_value", "UNREADABLE", "OUT_OF_RANGE"]

TIME_UNITS = ("auto", "s", "ms", "us", "ns")
_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
MIN_EPOCH = -62135596800.0  # 0001-01-01T00:00:00Z
MAX_EPOCH = 253402300800.0  # 10000-01-01T00:00:00Z (exclusive)
UNREADABLE = "unreadable"
OUT_OF_RANGE = "out of range"
_INT_LIMIT = 2**1023  # Python ints that float() takes


def check_unit(unit: str) -> str:
    """``unit`` if it is one of :data:`TIME_UNITS`, else ValueError."""
    if unit not in TIME_UNITS:
        raise ValueError(f"time unit must be one of {', '.join(TIME_UNITS)}, got {unit!r}")
    return unit


def _in_range(seconds: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (seconds >= MIN_EPOCH) & (seconds < MAX_EPOCH)


def epoch_seconds(values: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch numbers in ``unit`` (or detected, ``"auto"``) as seconds, with the masks of
    the values that are not finite and of those out of range (years 1-9999)."""
    check_unit(unit)
    v = np.asarray(values, np.float64)
    finite = np.isfinite(v)
    if unit != "auto":
        seconds = v / _SCALE[unit]
        ok = _in_range(seconds)
    else:
        seconds = v.copy()
        ok = _in_range(seconds)
        for scale in (1e3, 1e6, 1e9):
            todo = finite & ~ok
            if not todo.any():
                break
            scaled = v[todo] / scale
            hit = _in_range(scaled)
            idx = np.flatnonzero(todo)[hit]
            seconds[idx] = scaled[hit]
            ok[idx] = True
    return seconds, ~finite, finite & ~ok


def time_value(value: Any, unit: str) -> float | str:
    """One log cell as epoch seconds, or :data:`UNREADABLE` / :data:`OUT_OF_RANGE`: a number
    (or a number spelled as a string) in ``unit``, an ISO 8601 string (naive = UTC) or a
    ``datetime``; booleans and empty cells are unreadable."""
    kind = type(value)
    if kind is float or (kind is int and -_INT_LIMIT < value < _INT_LIMIT):  # the common cells first
        return _number_seconds(float(value), unit)
    if isinstance(value, bool) or value is None:
        return UNREADABLE
    if isinstance(value, int):  # beyond float: certainly no date
        return OUT_OF_RANGE
    if isinstance(value, float):
        return _number_seconds(float(value), unit)
    if isinstance(value, datetime):
        return _datetime_seconds(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            try:
                return _datetime_seconds(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
            except (ValueError, OverflowError):
                return UNREADABLE
        return _number_seconds(number, unit)
    return UNREADABLE


def _datetime_seconds(t: datetime) -> float | str:
    seconds = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    return seconds if MIN_EPOCH <= seconds < MAX_EPOCH else OUT_OF_RANGE


def _number_seconds(x: float, unit: str) -> float | str:
    """The scalar form of :func:`epoch_seconds` (the same divisions, so the same bits)."""
    if not math.isfinite(x):
        return UNREADABLE
    if MIN_EPOCH <= x < MAX_EPOCH and unit in ("auto", "s"):
        return x
    for scale in (_SCALE[unit],) if unit != "auto" else (1.0, 1e3, 1e6, 1e9):
        seconds = x / scale
        if MIN_EPOCH <= seconds < MAX_EPOCH:
            return seconds
    return OUT_OF_RANGE
