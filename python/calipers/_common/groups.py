"""Group keys, the one rule shared by :class:`calipers.GroupedSketch`, :func:`calipers.pce`
(and PIECE's cells) and :class:`calipers.CalibrationMonitor`: a key is a string or an
integer, kept apart by type (1 and '1' are two keys); numpy integers and strings and
integer-valued floats (Python or numpy) are read as the int / str they equal; booleans,
complex numbers, floats with a fraction, bytes and other objects are a TypeError; a
missing key (None, NaN, pd.NA) a ValueError (the monitor alone reads None as "no group").
The rule depends on the value only, never on which keys a sketch or monitor already holds.
Columns come from numpy, lists, pandas and pyarrow."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .validate import reject_masked

__all__ = ["as_key", "group_keys"]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _key_or_error(value: Any) -> str | int | Exception:
    """The key ``value`` stands for, or the error (without the argument's name) why it is none."""
    if isinstance(value, str):
        return str(value)  # np.str_ -> str
    if isinstance(value, (bool, np.bool_)):
        return TypeError(f"a bool ({bool(value)!r})")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return ValueError("group keys must not be missing (NaN)")
        if not math.isfinite(f) or f != math.floor(f):
            return TypeError(f"the float {f!r} (not integer-valued)")
        return int(f)
    if _is_missing(value):
        return ValueError(f"group keys must not be missing ({value!r})")
    return TypeError(f"a {type(value).__name__} ({value!r})")


def as_key(value: Any, name: str = "group") -> str | int:
    """One group key by the shared rule (see the module docstring): the str or int it is;
    TypeError for a value of another kind, ValueError for a missing one, naming ``name``."""
    key = _key_or_error(value)
    if isinstance(key, Exception):
        if isinstance(key, ValueError):
            raise ValueError(f"{name} must be a string or an integer: {key}")
        raise TypeError(f"{name} must be a string or an integer, got {key}")
    return key


def group_keys(groups: Any, n: int, name: str = "groups", *, none_ok: bool = False) -> tuple[list[Any], np.ndarray]:
    """(distinct keys as Python str / int, each row's index into them) of a group column:
    numpy, lists, pandas (object, string, category, nullable integer) and pyarrow (string,
    dictionary, integer) columns. Keys of different types stay apart (1 and '1' are two
    groups); a missing key (None, NaN, pd.NA) is a ValueError, any other kind of key
    (floats with a fraction, booleans, bytes, objects) a TypeError; every message starts
    with ``name``, the argument that holds the keys. ``none_ok``: None is a key (the
    monitor's "no group"), not a missing one."""
    if isinstance(groups, (str, bytes)):
        raise TypeError(f"{name} must be an array of keys, got {type(groups).__name__}")
    reject_masked(groups, name)
    try:  # a Python sequence keeps its elements' types (np.asarray would make 1 and '1' one string)
        keys = np.asarray(groups, dtype=object) if isinstance(groups, (list, tuple)) else np.asarray(groups)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of string or integer keys: {exc}") from None
    if keys.ndim != 1 or len(keys) != n:
        raise ValueError(f"{name} must be 1-D with one entry per row ({n}), got shape {keys.shape}")
    kind = keys.dtype.kind
    if kind == "f":
        missing = np.isnan(keys)
        if missing.any():
            raise ValueError(
                f"{name}: group keys must not be missing: {int(missing.sum())} value(s) are NaN, "
                f"first at index {int(np.argmax(missing))}"
            )
        fraction = ~np.isfinite(keys) | (keys != np.floor(keys))
        if fraction.any():
            i = int(np.argmax(fraction))
            raise TypeError(
                f"{name}: group keys must be strings or integers: index {i} holds the float {keys[i].item()!r} "
                f"(not integer-valued); {int(fraction.sum())} value(s) are not keys"
            )
        if np.all(np.abs(keys) < 2.0**63):
            keys = keys.astype(np.int64)
            kind = "i"
        else:  # beyond int64: Python ints, as one such float is read
            keys = np.array([int(v) for v in keys.tolist()], dtype=object)
            kind = "O"
    if kind in "iuU":
        uniq, inverse = np.unique(keys, return_inverse=True)
        return uniq.tolist(), inverse.reshape(-1)
    if kind != "O":
        raise TypeError(f"{name}: group keys must be strings or integers, got dtype {keys.dtype}")
    index: dict[Any, int] = {}
    codes = np.empty(n, np.int64)
    values = keys.tolist()
    for i, value in enumerate(values):
        key = None if none_ok and value is None else _key_or_error(value)
        if isinstance(key, ValueError):
            bad = [j for j, v in enumerate(values) if not (none_ok and v is None) and _is_missing_key(v)]
            raise ValueError(
                f"{name}: group keys must not be missing: {len(bad)} value(s) are, first at index {bad[0]} ({value!r})"
            )
        if isinstance(key, Exception):
            bad = [j for j, v in enumerate(values) if isinstance(_key_or_error(v), TypeError)]
            raise TypeError(
                f"{name}: group keys must be strings or integers: index {i} holds {key}; "
                f"{len(bad)} value(s) are not keys"
            )
        codes[i] = index.setdefault(key, len(index))
    return list(index), codes


def _is_missing_key(value: Any) -> bool:
    """Whether the shared rule reads ``value`` as a missing key."""
    return isinstance(_key_or_error(value), ValueError)
