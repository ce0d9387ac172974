"""Group keys of a column, the one rule shared by :class:`calipers.GroupedSketch` and
:func:`calipers.pce` (and PIECE's cells): strings or integers, kept apart by type, no
missing keys, from numpy, lists, pandas and pyarrow columns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .validate import reject_masked

__all__ = ["group_keys"]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def group_keys(groups: Any, n: int, name: str = "groups") -> tuple[list[Any], np.ndarray]:
    """(distinct keys as Python str / int, each row's index into them) of a group column:
    numpy, lists, pandas (object, string, category, nullable integer) and pyarrow (string,
    dictionary, integer) columns. Keys of different types stay apart (1 and '1' are two
    groups); a missing key (None, NaN, pd.NA) is a ValueError, any other kind of key
    (floats with a fraction, booleans, bytes, objects) a TypeError; every message starts
    with ``name``, the argument that holds the keys."""
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
        fraction = keys != np.floor(keys)
        if fraction.any():
            i = int(np.argmax(fraction))
            raise TypeError(
                f"{name}: group keys must be strings or integers: index {i} holds the float {keys[i].item()!r}"
            )
        keys = keys.astype(np.int64)
        kind = "i"
    if kind in "iuU":
        uniq, inverse = np.unique(keys, return_inverse=True)
        return uniq.tolist(), inverse.reshape(-1)
    if kind != "O":
        raise TypeError(f"{name}: group keys must be strings or integers, got dtype {keys.dtype}")
    index: dict[Any, int] = {}
    codes = np.empty(n, np.int64)
    for i, value in enumerate(keys.tolist()):
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            key: Any = value
        elif isinstance(value, np.integer):
            key = int(value)
        elif _is_missing(value):
            bad = [j for j, v in enumerate(keys.tolist()) if _is_missing(v)]
            raise ValueError(
                f"{name}: group keys must not be missing: {len(bad)} value(s) are, first at index {bad[0]} ({value!r})"
            )
        else:
            raise TypeError(
                f"{name}: group keys must be strings or integers: index {i} holds a {type(value).__name__} ({value!r})"
            )
        codes[i] = index.setdefault(key, len(index))
    return list(index), codes
