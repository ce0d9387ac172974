"""Geometry shared by every backend: rule codes, the sketch layout and the fine grid.

The C++ core (cpp/include/calipers/{errors,binning,sketch}.hpp) uses the same constants;
``tests/test_backends_agree.py`` checks that they match.
"""

from __future__ import annotations

import numpy as np

# Validation rules, in priority order (errors.hpp).
RULE_NAN, RULE_INF, RULE_RANGE, RULE_ROW_SUM, RULE_LABEL = range(5)
N_RULES = 5

# Accumulation parts (sketch.hpp).
PART_COARSE, PART_FINE, PART_TOTALS = 1, 2, 4
PART_ALL = 7

# Kinds of input accumulated.
KIND_BINARY, KIND_TOP_LABEL, KIND_MARGINAL = 0, 1, 2

# Fixed point (fixed_point.hpp).
UNIT_SCALE = 2.0**62
LOG_SCALE = 2.0**56
LOG_LOSS_FLOOR = 1e-15

# Fine grid (binning.hpp): cells uniform in exponent/mantissa of t = min(p, 1 - p).
GRID_OCTAVES = 31
GRID_SUB_BITS = 6
GRID_SUB = 1 << GRID_SUB_BITS
GRID_HALF = 1 + GRID_OCTAVES * GRID_SUB
GRID_CELLS = 2 * GRID_HALF

FIELDS = 4  # count, positives, sum(p) lo, sum(p) hi


def stream_size(bins: int) -> int:
    return (bins + GRID_CELLS) * FIELDS + 4


def width_edges(bins: int) -> np.ndarray:
    """Equal-width edges e_i = i / B (correctly rounded division, as in C++)."""
    return np.arange(bins + 1, dtype=np.float64) / float(bins)


def _half_cell_bounds() -> tuple[np.ndarray, np.ndarray]:
    """[lower, upper) of t for each half-grid cell (cell 0 is [0, 2^-32))."""
    lo = np.empty(GRID_HALF)
    hi = np.empty(GRID_HALF)
    lo[0], hi[0] = 0.0, 2.0 ** (-GRID_OCTAVES - 1)
    octave = np.arange(GRID_OCTAVES).repeat(GRID_SUB)
    sub = np.tile(np.arange(GRID_SUB), GRID_OCTAVES)
    base = 2.0 ** (octave - GRID_OCTAVES - 1.0)
    lo[1:] = base * (1.0 + sub / GRID_SUB)
    hi[1:] = base * (1.0 + (sub + 1) / GRID_SUB)
    hi[-1] = 0.5  # the last cell also holds t == 0.5
    return lo, hi


def fine_cell_lower_edges() -> np.ndarray:
    """Smallest score that can land in each fine cell (cells ascend in p)."""
    lo, hi = _half_cell_bounds()
    return np.concatenate([lo, (1.0 - hi)[::-1]])


def fine_cell_upper_edges() -> np.ndarray:
    """Largest score bound of each fine cell."""
    lo, hi = _half_cell_bounds()
    return np.concatenate([hi, (1.0 - lo)[::-1]])
