"""Real-valued inputs of the downstream corrections and estimates (LCC, Tweedie, PPI, the
downstream means): finite and within +-:data:`MAX_REAL`, checked before any arithmetic, so
their sums, squares and co-moments stay finite in float64 (no overflow warnings, no NaN
results, no misleading 'constant' or 'slope' messages); and the one check that a result
came out finite."""

from __future__ import annotations

from typing import Any

import numpy as np

from .validate import finite_values, refuse_any

__all__ = ["MAX_REAL", "real_values", "real_error", "finite_result"]

# |value| at most 1e100: a square is at most 1e200 and a sum of 2^53 squares of differences
# stays below 1e217, far inside float64's 1.8e308.
MAX_REAL = 1e100


def real_error(value: float, name: str) -> str | None:
    """Why one finite value is out of range (the reason a log row is skipped), or None."""
    return None if abs(value) <= MAX_REAL else f"'{name}' beyond +-{MAX_REAL:g}"


def real_values(x: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float64 array of finite values within +-:data:`MAX_REAL`; ValueError
    naming ``name``, the rule, the count and the first offender otherwise."""
    arr = finite_values(x, name)
    rule = f"{name} must lie within +-{MAX_REAL:g} (their squares must stay finite in float64)"
    refuse_any(np.abs(arr) > MAX_REAL, rule, "do not", arr)
    return arr


def finite_result(out: np.ndarray, name: str, why: str) -> np.ndarray:
    """``out`` when every value is finite; else ValueError naming ``name``, the count, the
    first index and ``why`` (nothing is returned half computed)."""
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"{name} are not finite: {int(bad.sum())} value(s) overflow float64, first at index "
            f"{int(np.argmax(bad))}; {why}"
        )
    return out
