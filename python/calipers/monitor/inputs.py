"""Argument checks of the monitor's recording calls and the window arithmetic of times.

``record`` checks its arguments inline for speed and falls back on these for anything
that is not a plain float score and int label; ``record_many``, ``predicted`` and
``observed`` use them throughout. Every check raises at the call (TypeError for a wrong
kind, ValueError for a wrong value) before anything is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .._common.groups import as_key
from .._common.groups import group_keys as shared_group_keys
from .._common.validate import check, refuse_any, reject_masked
from ..io.times import MAX_EPOCH, MIN_EPOCH

__all__ = [
    "as_score",
    "as_label",
    "as_time",
    "check_group",
    "group_error",
    "RESERVED_GROUPS",
    "group_keys",
    "times_of",
    "prediction_of",
    "outcome_check",
    "window_indices",
    "window_of",
    "key_order",
]


def as_score(score: Any) -> float:
    """A number as a float (TypeError for anything else; the range is the caller's)."""
    if isinstance(score, (bool, np.bool_, int, float, np.integer, np.floating)):
        return float(score)
    raise TypeError(f"score must be a number, got {type(score).__name__}")


def as_label(label: Any) -> int:
    """An outcome 0 or 1 as an int."""
    if isinstance(label, (str, bytes)) or not isinstance(label, (bool, np.bool_, int, float, np.integer, np.floating)):
        raise TypeError(f"label must be 0 or 1, got {type(label).__name__}")
    if label == 0 or label == 1:
        return int(label)
    raise ValueError(f"label must be 0 or 1, got {label!r}")


def as_time(t: Any) -> float:
    """A number of seconds since the epoch as a float: finite and a time of years 1 to 9999
    (:data:`calipers.io.times.MIN_EPOCH` <= t < :data:`~calipers.io.times.MAX_EPOCH`, the
    range the log readers label), so every window index is an exact integer."""
    if isinstance(t, (str, bytes, bool)) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise TypeError(f"t must be a number of seconds, got {type(t).__name__}")  # True is not 1 s
    try:
        value = float(t)
    except OverflowError:  # an int beyond float range
        value = math.inf if t > 0 else -math.inf
    if not math.isfinite(value):
        raise ValueError(f"t must be finite, got {t!r}")
    if not MIN_EPOCH <= value < MAX_EPOCH:
        raise ValueError(f"t must be seconds since the epoch within years 1 to 9999, got {t!r}")
    return value


# Names the monitor gives itself: every record (the Prometheus / OpenTelemetry label of the
# overall series) and the pool of groups beyond max_groups. A user's group may not take them.
RESERVED_GROUPS = ("__all__", "__other__")


def group_error(group: Hashable) -> Exception | None:
    """Why a key of the shared rule (:func:`calipers._common.groups.as_key`: a str or an
    int) cannot be a monitor's group (None when it can): ValueError for a reserved name
    (:data:`RESERVED_GROUPS`) or a string that is not valid Unicode text (a lone surrogate
    cannot be written as UTF-8, so ``/metrics`` could not render it)."""
    if isinstance(group, str):
        if group in RESERVED_GROUPS:
            return ValueError(f"group {group!r} is reserved by the monitor ({', '.join(RESERVED_GROUPS)})")
        try:
            group.encode("utf-8")
        except UnicodeEncodeError as exc:
            return ValueError(f"group {group!r} is not valid Unicode text: a lone surrogate at index {exc.start}")
    elif isinstance(group, bool) or not isinstance(group, int):
        return TypeError(f"group must be None, a string or an integer, got {type(group).__name__}")
    return None


def check_group(group: Any) -> Hashable:
    """``group`` as a monitor's group key: None (no group) or the shared rule's str / int
    (:func:`calipers._common.groups.as_key`, the same for every monitor whatever it holds),
    not reserved, valid Unicode; raises the rule's error otherwise."""
    if group is None:
        return None
    try:
        hash(group)
    except TypeError:
        raise TypeError(f"group must be None, a string or an integer, got {type(group).__name__}") from None
    key = as_key(group, "group")
    error = group_error(key)
    if error is not None:
        raise error
    return key


def group_keys(groups: Any, n: int) -> tuple[list[Hashable], np.ndarray] | None:
    """``record_many``'s groups: None (no groups given) or (distinct keys, each row's index
    into them) by the shared rule (None in a row: no group), every key checked
    (:func:`group_error`) before any is used."""
    if groups is None:
        return None
    keys, codes = shared_group_keys(groups, n, "groups", none_ok=True)
    for j, k in enumerate(keys):
        error = None if k is None else group_error(k)
        if error is not None:
            rows = codes == j
            raise ValueError(
                f"groups: {int(rows.sum())} key(s) {k!r} cannot be used, first at index {int(np.argmax(rows))}: {error}"
            )
    return keys, codes


def times_of(t: Any, n: int, clock: Callable[[], float]) -> np.ndarray:
    """``record_many``'s times: None (now), one time, or n finite times."""
    if t is None:
        return np.full(n, float(clock()))
    reject_masked(t, "t")
    if np.ndim(t) == 0:
        return np.full(n, as_time(t))
    times = np.asarray(t)
    if times.dtype.kind not in "iuf":  # strings, booleans, objects: not seconds
        raise TypeError(f"t must hold numbers of seconds, got an array of dtype {times.dtype}")
    if times.shape != (n,):
        raise ValueError(f"t must be None, one time or {n} finite times, got shape {times.shape}")
    times = times.astype(np.float64)
    refuse_any(~np.isfinite(times), "t must be finite")
    refuse_any(
        (times < MIN_EPOCH) | (times >= MAX_EPOCH),
        "t must be seconds since the epoch within years 1 to 9999",
        values=times,
    )
    return times


def prediction_of(score: Any, classes: int | None, kernels: Any, row_sum_atol: float) -> tuple[Any, int]:
    """``predicted``'s score as (score, argmax): a float and -1 for a 1-D score; the top
    confidence and its class for a probability vector; the K probabilities (a tuple) and
    -1 for a marginal monitor."""
    if np.ndim(score) == 1 and not classes:
        probs = check([score], [0], kernels, mode="top-label", row_sum_atol=row_sum_atol).scores[0]
        return float(probs.max()), int(np.argmax(probs))
    if classes:
        c = check([score], [0], kernels, mode="marginal", row_sum_atol=row_sum_atol)
        if c.classes != classes:
            raise ValueError(f"this monitor has classes={classes}: score must have {classes} entries")
        return tuple(float(v) for v in c.scores[0]), -1
    value = as_score(score)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"score must lie in [0, 1], got {value!r}")
    return value, -1


def outcome_check(label: Any, classes: int | None) -> Callable[[tuple[Any, int, float, int]], None] | None:
    """``observed``'s label check: what can be checked without the pending entry raises
    here; the returned function checks the label against the entry (1-D predictions take
    0 or 1, top-label ones a class index)."""
    if classes:
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < classes:
            raise ValueError(f"label must be a class index in [0, {classes}), got {label!r}")
        return None
    if isinstance(label, (str, bytes)) or not isinstance(label, (bool, np.bool_, int, np.integer, float)):
        raise TypeError(f"label must be an integer, got {type(label).__name__}")

    def against(entry: tuple[Any, int, float, int]) -> None:
        if entry[3] < 0:
            as_label(label)  # a 1-D prediction: 0 or 1
        elif label != int(label) or label < 0:
            raise ValueError(f"label must be a class index >= 0, got {label!r}")

    return against


def window_indices(t: np.ndarray, window: float) -> np.ndarray:
    """w with w * window <= t < (w + 1) * window, exactly in float64 products."""
    w = np.floor(t / window)
    w = np.where(w * window > t, w - 1, w)
    w = np.where((w + 1) * window <= t, w + 1, w)
    return w.astype(np.int64)


def window_of(t: float, window: float) -> int:
    """:func:`window_indices` of one time (the clock's window)."""
    w = math.floor(t / window)
    if w * window > t:
        w -= 1
    elif (w + 1) * window <= t:
        w += 1
    return int(w)


def key_order(key: Hashable) -> tuple[bool, Any]:
    """Sort key of group keys: integers first, then strings."""
    return (isinstance(key, str), key)
