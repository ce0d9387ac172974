"""What scoring logs yields (sketches overall, per group and per window, rows and skip
counts) and how per-file results merge in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..io.records import Skipped
from ..streaming.grouped import GroupedSketch
from ..streaming.sketch import ReliabilitySketch, merge_all

__all__ = ["Scored", "merge_scored", "GROUP_GRID", "grouped"]

# The grid of the per-group (--by) and per-window sketches: 4.7 KB each instead of the
# fine grid's 128 KB (bins=15); the overall sketch keeps the fine grid.
GROUP_GRID = "compact"


def grouped(bins: int = 15, classes: int | None = None, backend: str = "auto") -> GroupedSketch:
    """An empty grouped sketch on :data:`GROUP_GRID` (groups or windows of a score run)."""
    return GroupedSketch(bins, classes, backend=backend, grid=GROUP_GRID)


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
    """Merge per-file results in order (so each reason's first file:line stays the first)."""
    out = Scored(
        merge_all([p.sketch for p in parts]),
        sum(p.rows for p in parts),
        Skipped(),
        parts[0].groups.copy(),
        parts[0].windows.copy(),
    )
    for i, part in enumerate(parts):
        for reason, count in part.skipped.counts.items():
            out.skipped.add(reason, part.skipped.first[reason], count)
        if i:
            out.groups.merge(part.groups)
            out.windows.merge(part.windows)
    return out
