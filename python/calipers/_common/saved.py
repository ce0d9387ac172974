"""Numbers read back from saved JSON (calibrator and correction states, the JSON headers of
binary blobs): a field that was written as a JSON number must be read as one.

``float("1_0")`` is 10.0, ``float(" 2 ")`` is 2.0, ``float(True)`` is 1.0 and
``np.asarray(["3"], float)`` is ``[3.0]``: parsing a saved state with the Python
constructors quietly accepts strings and booleans a calipers writer never produces (a
tampered or hand-edited file). These readers accept only ``int``/``float`` values (not
``bool``) and raise ValueError naming the owner and the field otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["saved_int", "saved_number", "saved_numbers", "saved_optional_number"]


def _field(d: Any, key: str, owner: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{owner} must be a JSON object, got {type(d).__name__}")
    if key not in d:
        raise ValueError(f"{owner}: missing field {key!r}")
    return d[key]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def saved_number(d: Any, key: str, owner: str) -> float:
    """``d[key]`` as a float when it is a JSON number (an int within float range counts)."""
    v = _field(d, key, owner)
    if not _is_number(v):
        raise ValueError(f"{owner}: field {key!r} must be a JSON number, got {v!r}")
    try:
        return float(v)
    except OverflowError:  # an integer literal beyond float64
        raise ValueError(f"{owner}: field {key!r} is beyond float64's range") from None


def saved_optional_number(d: Any, key: str, owner: str, none: float = math.nan) -> float:
    """:func:`saved_number`, with JSON null read as ``none``."""
    return none if _field(d, key, owner) is None else saved_number(d, key, owner)


def saved_int(d: Any, key: str, owner: str) -> int:
    """``d[key]`` when it is a JSON integer (not a float such as 2.0, not a boolean)."""
    v = _field(d, key, owner)
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"{owner}: field {key!r} must be a JSON integer, got {v!r}")
    return v


def saved_numbers(d: Any, key: str, owner: str) -> np.ndarray:
    """``d[key]`` as a 1-D float64 array when it is a JSON list of numbers; the error names
    the first element that is not one."""
    v = _field(d, key, owner)
    if not isinstance(v, list):
        raise ValueError(f"{owner}: field {key!r} must be a JSON list of numbers, got {type(v).__name__}")
    bad = [i for i, x in enumerate(v) if not _is_number(x)]
    if bad:
        raise ValueError(
            f"{owner}: field {key!r} must hold JSON numbers only: {len(bad)} value(s) are not, "
            f"first at index {bad[0]} ({v[bad[0]]!r})"
        )
    try:
        return np.array(v, dtype=np.float64)
    except OverflowError:
        raise ValueError(f"{owner}: field {key!r} holds an integer beyond float64's range") from None
