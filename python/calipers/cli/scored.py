"""What scoring logs yields (sketches overall, per group and per window, rows and skip
counts) and how per-file results merge in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._common.grid import grid_cell_count, grid_spec
from ..io.records import Skipped
from ..streaming.grouped import GroupedSketch
from ..streaming.sketch import ReliabilitySketch, merge_all

__all__ = ["Scored", "merge_scored", "GROUP_GRID", "GROUP_GRIDS", "MAX_GROUPS", "grouped", "grid_cells"]

# The default grid of the per-group (--by) and per-window sketches (``--group-grid``): 4.7 KB
# each instead of the fine grid's 128 KB (bins=15); the overall sketch keeps the fine grid.
# Their equal-mass ECE and smooth ECE come from this grid; "fine" makes them equal to
# scoring each group's rows alone.
GROUP_GRID = "compact"
MAX_GROUPS = 100_000  # default cap on groups (and on windows) of one score run: --max-groups
GROUP_GRIDS = ("compact", "fine")


def grouped(
    bins: int = 15, classes: int | None = None, backend: str = "auto", grid: str | tuple[int, int] | None = GROUP_GRID
) -> GroupedSketch:
    """An empty grouped sketch (groups or windows of a score run) on ``grid``."""
    return GroupedSketch(bins, classes, backend=backend, grid=grid)


def grid_cells(grid: str | tuple[int, int] | None) -> int:
    """Cells of a grid (130 for "compact", 3970 for "fine")."""
    return grid_cell_count(*grid_spec(grid))


def _on_one_grid(parts: list[GroupedSketch]) -> list[GroupedSketch]:
    """Grouped sketches on one grid: theirs when the non-empty ones agree, else all folded
    onto :data:`GROUP_GRID` (exact; a grid it cannot fold raises ValueError)."""
    grids = {g.grid for g in parts if len(g)}
    if not grids:
        return parts
    target = grids.pop() if len(grids) == 1 else GROUP_GRID
    return [
        g if g.grid == target else g.coarsen(target) if len(g) else grouped(g.bins, g.classes, grid=target)
        for g in parts
    ]


@dataclass
class Scored:
    """One log's (or many merged logs') sketches: overall, per group, and per window
    (keyed by the window's index: its start is index * window), and the names of the
    --by and --time columns (None: not given, or unknown in a file saved before they
    were recorded)."""

    sketch: ReliabilitySketch
    rows: int
    skipped: Skipped
    groups: GroupedSketch = field(default_factory=grouped)
    windows: GroupedSketch = field(default_factory=grouped)
    by: str | None = None
    time: str | None = None


def merge_scored(parts: Sequence[Scored]) -> Scored:
    """Merge per-file results in order (so each reason's first file:line stays the first);
    groups (and windows) saved on different grids are folded onto :data:`GROUP_GRID`."""
    groups = _on_one_grid([p.groups for p in parts])
    windows = _on_one_grid([p.windows for p in parts])
    out = Scored(
        merge_all([p.sketch for p in parts]),
        sum(p.rows for p in parts),
        Skipped(),
        groups[0].copy(),
        windows[0].copy(),
    )
    for i, part in enumerate(parts):
        for reason, count in part.skipped.counts.items():
            out.skipped.add(reason, part.skipped.first[reason], count)
        if i:
            out.groups.merge(groups[i])
            out.windows.merge(windows[i])
    return out
