"""Geometry shared by every backend: rule codes, the sketch layout and the fine grid.

The C++ core (cpp/include/calipers/{errors,binning,sketch}.hpp) uses the same constants;
``tests/test_backends_agree.py`` checks that they match.
"""

from __future__ import annotations

import numpy as np

# Validation rules, in priority order (errors.hpp).
RULE_NAN, RULE_INF, RULE_RANGE, RULE_ROW_SUM, RULE_LABEL = range(5)
N_RULES = 5

# Accumulation parts (sketch.hpp); PART_SQUARES asks the one-pass sums (fused.hpp) for the
# squared errors without the log-loss terms.
PART_COARSE, PART_FINE, PART_TOTALS = 1, 2, 4
PART_ALL = 7
PART_SQUARES = 8

# Kinds of input accumulated.
KIND_BINARY, KIND_TOP_LABEL, KIND_MARGINAL = 0, 1, 2

# Fixed point (fixed_point.hpp).
UNIT_SCALE = 2.0**62
LOG_SCALE = 2.0**56
LOG_LOSS_FLOOR = 1e-15

# Sample weights (fixed_point.hpp): held as round(w 2^24), so integer weights are exact and
# fractional ones have a resolution of 2^-24; each weight must lie in [0, 2^39).
WEIGHT_BITS = 24
WEIGHT_SCALE = 2.0**WEIGHT_BITS
MAX_WEIGHT = 2.0**39

# Fine grid (binning.hpp): cells uniform in exponent/mantissa of t = min(p, 1 - p).
GRID_OCTAVES = 31
GRID_SUB_BITS = 6
GRID_SUB = 1 << GRID_SUB_BITS
GRID_HALF = 1 + GRID_OCTAVES * GRID_SUB
GRID_CELLS = 2 * GRID_HALF

FIELDS = 4  # count, positives, sum(p) lo, sum(p) hi


def stream_size(bins: int, cells: int = GRID_CELLS) -> int:
    """uint64 words of one stream: bins and grid cells (FIELDS words each), then 4 totals."""
    return (bins + cells) * FIELDS + 4


# Grids a ReliabilitySketch can keep (ReliabilitySketch(grid=...)): (octaves, sub_bits),
# each a coarsening of the fine grid; (0, 0) stands for no grid (the equal-width bins serve).
GRIDS: dict[str | None, tuple[int, int]] = {"fine": (GRID_OCTAVES, GRID_SUB_BITS), "compact": (16, 2), None: (0, 0)}


def grid_spec(grid: object) -> tuple[int, int]:
    """(octaves, sub_bits) of a grid choice: "fine", "compact", None, or a pair with
    1 <= octaves <= 31 and 0 <= sub_bits <= 6; raises ValueError otherwise."""
    if isinstance(grid, str) or grid is None:
        if grid not in GRIDS:
            raise ValueError(f"grid must be 'fine', 'compact', None or (octaves, sub_bits), got {grid!r}")
        return GRIDS[grid]
    if isinstance(grid, tuple) and len(grid) == 2 and all(type(v) is int for v in grid):
        octaves, sub_bits = grid
        if (octaves, sub_bits) == (0, 0) or (1 <= octaves <= GRID_OCTAVES and 0 <= sub_bits <= GRID_SUB_BITS):
            return octaves, sub_bits
    raise ValueError(
        f"grid must be 'fine', 'compact', None or (octaves, sub_bits) with 1 <= octaves <= {GRID_OCTAVES} "
        f"and 0 <= sub_bits <= {GRID_SUB_BITS}, got {grid!r}"
    )


def grid_name(spec: tuple[int, int]) -> str | tuple[int, int] | None:
    """The name of a grid spec ("fine", "compact", None) or the pair itself."""
    for name, value in GRIDS.items():
        if value == spec:
            return name
    return spec


def grid_cell_count(octaves: int, sub_bits: int) -> int:
    """Cells of a grid: 2 (1 + octaves 2^sub_bits), or 0 for no grid (0, 0)."""
    return 0 if octaves == 0 else 2 * (1 + octaves * (1 << sub_bits))


def width_edges(bins: int) -> np.ndarray:
    """Equal-width edges e_i = i / B (correctly rounded division, as in C++)."""
    return np.arange(bins + 1, dtype=np.float64) / float(bins)


def _half_cell_bounds(octaves: int = GRID_OCTAVES, sub_bits: int = GRID_SUB_BITS) -> tuple[np.ndarray, np.ndarray]:
    """[lower, upper) of t for each half-grid cell (cell 0 is [0, 2^-(octaves+1)))."""
    sub_n = 1 << sub_bits
    half = 1 + octaves * sub_n
    lo = np.empty(half)
    hi = np.empty(half)
    lo[0], hi[0] = 0.0, 2.0 ** (-octaves - 1)
    octave = np.arange(octaves).repeat(sub_n)
    sub = np.tile(np.arange(sub_n), octaves)
    base = 2.0 ** (octave - octaves - 1.0)
    lo[1:] = base * (1.0 + sub / sub_n)
    hi[1:] = base * (1.0 + (sub + 1) / sub_n)
    hi[-1] = 0.5  # the last cell also holds t == 0.5
    return lo, hi


def fine_cell_lower_edges(octaves: int = GRID_OCTAVES, sub_bits: int = GRID_SUB_BITS) -> np.ndarray:
    """Smallest score that can land in each cell of the grid (cells ascend in p)."""
    lo, hi = _half_cell_bounds(octaves, sub_bits)
    return np.concatenate([lo, (1.0 - hi)[::-1]])


def fine_cell_upper_edges(octaves: int = GRID_OCTAVES, sub_bits: int = GRID_SUB_BITS) -> np.ndarray:
    """Largest score bound of each cell of the grid."""
    lo, hi = _half_cell_bounds(octaves, sub_bits)
    return np.concatenate([hi, (1.0 - lo)[::-1]])


def coarsen_index(octaves: int, sub_bits: int) -> np.ndarray:
    """For each fine-grid cell, the cell of the (octaves, sub_bits) grid that contains it."""
    sub = np.arange(GRID_SUB) >> (GRID_SUB_BITS - sub_bits)
    e = np.arange(GRID_OCTAVES)[:, None] - GRID_OCTAVES - 1  # exponent of each fine octave
    cell = np.where(e >= -octaves - 1, 1 + (e + octaves + 1) * (1 << sub_bits) + sub[None, :], 0)
    half = np.concatenate([[0], cell.ravel()])
    cells = grid_cell_count(octaves, sub_bits)
    return np.concatenate([half, cells - 1 - half[::-1]])
