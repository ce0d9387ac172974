"""Sketches of dask collections, merged in a tree through the public dask API.

Every partition (or block) builds its own :class:`~calipers.ReliabilitySketch`; the
sketches are merged by ``dask.delayed`` calls of :func:`calipers.merge_all`, at most
``split_every`` at a time. The sums in a sketch are exact integers, so the result is the
same bytes as one process reading everything, whatever the partitioning or the tree.
Needs ``pip install "dask[distributed]"`` (and pandas for DataFrames).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._common.optional import require
from .streaming.sketch import ReliabilitySketch, merge_all

dask = require("dask", "calipers.dask")

__all__ = ["tree_merge", "sketch_from_dataframe", "sketch_from_array", "sketch_from_bag"]


def tree_merge(parts: Sequence[Any], split_every: int = 8, merge: Callable[[list[Any]], Any] = merge_all) -> Any:
    """Delayed merge of delayed sketches (or of anything ``merge`` combines from a list),
    ``split_every`` per node, keeping the order of ``parts``."""
    if split_every < 2:
        raise ValueError(f"split_every must be >= 2, got {split_every}")
    if not parts:
        raise ValueError("nothing to merge: the collection has no partitions")
    level = list(parts)
    while len(level) > 1:
        level = [dask.delayed(merge)(level[i : i + split_every]) for i in range(0, len(level), split_every)]
    return level[0]


def _sketch(scores: Any, labels: Any, bins: int, classes: int | None) -> ReliabilitySketch:
    s = ReliabilitySketch(bins, classes)
    if len(labels):
        s.update(scores, labels)
    return s


def _frame_part(
    frame: Any, score: str | Sequence[str], label: str, bins: int, classes: int | None
) -> ReliabilitySketch:
    cols = [score] if isinstance(score, str) else list(score)
    values = frame[cols].to_numpy(dtype=np.float64)
    return _sketch(values[:, 0] if isinstance(score, str) else values, frame[label].to_numpy(), bins, classes)


def _finish(parts: list[Any], split_every: int, compute: bool) -> Any:
    """The tree merge of the partitions' sketches: computed, or the delayed result."""
    merged = tree_merge(parts, split_every)
    return merged.compute() if compute else merged


def sketch_from_dataframe(
    ddf: Any,
    *,
    score: str | Sequence[str] = "score",
    label: str = "label",
    bins: int = 15,
    classes: int | None = None,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """A sketch of a dask DataFrame: ``score`` names one column in [0, 1] (with 0/1
    ``label``), or a list of K probability columns (with integer labels; top-label, or
    marginal with ``classes=K``)."""
    return _finish(
        [dask.delayed(_frame_part)(p, score, label, bins, classes) for p in ddf.to_delayed()], split_every, compute
    )


def sketch_from_array(
    scores: Any, labels: Any, *, bins: int = 15, classes: int | None = None, split_every: int = 8, compute: bool = True
) -> Any:
    """A sketch of dask arrays: (n,) or (n, K) scores chunked along rows only, (n,) labels
    with the same row chunks."""
    if scores.ndim == 2 and scores.numblocks[1] != 1:
        scores = scores.rechunk({1: -1})
    if scores.chunks[0] != labels.chunks[0]:
        labels = labels.rechunk(scores.chunks[0])
    s_blocks = scores.to_delayed().reshape(-1)
    l_blocks = labels.to_delayed().reshape(-1)
    return _finish(
        [dask.delayed(_sketch)(s, y, bins, classes) for s, y in zip(s_blocks, l_blocks)], split_every, compute
    )


def _bag_part(records: Any, score: str, label: str, bins: int, classes: int | None) -> ReliabilitySketch:
    records = list(records)
    scores = np.array([r[score] for r in records], dtype=np.float64)
    labels = np.array([r[label] for r in records], dtype=np.int64)
    return _sketch(scores, labels, bins, classes)


def sketch_from_bag(
    bag: Any,
    *,
    score: str = "score",
    label: str = "label",
    bins: int = 15,
    classes: int | None = None,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """A sketch of a dask Bag of dict records (``score`` may hold a probability list)."""
    return _finish(
        [dask.delayed(_bag_part)(p, score, label, bins, classes) for p in bag.to_delayed()], split_every, compute
    )
