"""GroupedSketch: one ReliabilitySketch per group key, updated in one call, merged per key,
serialized as one blob; its PCE comes from the groups' exact sums."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .._common import serde as _serde
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked, check, check_choice, warn_empty
from .._kernels import backend as _backend
from ..metrics.partition import discrepancy
from .sketch import ReliabilitySketch, merge_all

__all__ = ["GroupedSketch", "pce_from_sketches"]

TYPE_GROUPED_SKETCH = 3


def pce_from_sketches(sketches: Iterable[ReliabilitySketch], *, norm: str = "l1") -> float:
    """PCE across groups held as sketches (one per group), from their exact sums (weighted
    sketches: group masses are total weights)."""
    check_choice("norm", norm, ("l1", "l2"))
    sketches = list(sketches)
    n = sum(s.count for s in sketches)
    if n == 0:
        warn_empty("pce", "GroupedSketch")
        return float("nan")
    total = 0.0
    for s in sketches:
        if s.count == 0:
            continue
        per_class = [
            discrepancy(np.array([st.sum_score.sum() / s.count]), np.array([st.sum_label.sum() / s.count]), norm)[0]
            for st in s._stats("width", None)
        ]
        total += s.count / n * float(np.mean(per_class))
    return total


class GroupedSketch:
    """One :class:`ReliabilitySketch` per group key, updated in one call, merged per key,
    serialized as one blob. Keys are strings or integers (what a log's group column holds).

    ``update(scores, labels, groups)`` validates the whole batch before any group changes
    (all-or-nothing), then feeds each group its rows. ``pce()`` is the PCE across the
    groups, exact from the sketches' sums.
    """

    def __init__(
        self,
        bins: int = 15,
        classes: int | None = None,
        *,
        row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto",
    ) -> None:
        self._template = ReliabilitySketch(bins, classes, row_sum_atol=row_sum_atol, backend=backend)
        self._groups: dict[Any, ReliabilitySketch] = {}

    def _new(self) -> ReliabilitySketch:
        return self._template.copy()

    def update(self, scores: Any, labels: Any, groups: Any, *, sample_weight: Any = None) -> GroupedSketch:
        """Add a batch, each row to its group's sketch (``sample_weight``: one weight per row,
        as :meth:`ReliabilitySketch.update`); validated once, all-or-nothing."""
        t = self._template
        kernels = _backend.resolve(t._backend)
        mode = "marginal" if t.classes else "top-label"
        c = check(scores, labels, kernels, mode=mode, row_sum_atol=t._row_sum_atol, sample_weight=sample_weight)  # type: ignore[arg-type]
        keys = np.asarray(groups)
        if keys.ndim != 1 or len(keys) != c.n:
            raise ValueError(f"groups must be 1-D with one entry per row ({c.n}), got shape {keys.shape}")
        if keys.dtype.kind not in "iuU":
            raise TypeError(f"group keys must be integers or strings, got dtype {keys.dtype}")
        kinds = {s._kind for s in self._groups.values()} - {None}
        if kinds and c.kind not in kinds:
            raise ValueError("this grouped sketch holds another kind of input (1-D and (n, K) do not mix)")
        if t.classes and c.classes != t.classes:
            raise ValueError(f"this sketch has classes={t.classes}: scores must have shape (n, {t.classes})")
        if c.weights is not None and not np.all(c.weights > 0):  # a zero weight is a dropped row: no empty groups
            keep = c.weights > 0
            c = Checked(c.scores[keep], c.labels[keep], c.kind, c.weights[keep])
            keys = keys[keep]
        uniq, inverse = np.unique(keys, return_inverse=True)
        staged = {}
        for i, key in enumerate(uniq.tolist()):  # validated once above; each part only accumulates
            rows = inverse.reshape(-1) == i
            w = None if c.weights is None else c.weights[rows]
            staged[key] = self._new()._add_checked(Checked(c.scores[rows], c.labels[rows], c.kind, w), kernels)
        for key, part in staged.items():  # nothing can fail from here on
            if key in self._groups:
                self._groups[key].merge(part)
            else:
                self._groups[key] = part
        return self

    def merge(self, other: GroupedSketch) -> GroupedSketch:
        if not isinstance(other, GroupedSketch):
            raise TypeError(f"can only merge a GroupedSketch, got {type(other).__name__}")
        if (other._template.bins, other._template.classes) != (self._template.bins, self._template.classes):
            raise ValueError("cannot merge grouped sketches with different bins or classes")
        for key, sketch in other._groups.items():
            self._groups[key] = self._groups[key] + sketch if key in self._groups else sketch.copy()
        return self

    def __iadd__(self, other: GroupedSketch) -> GroupedSketch:
        return self.merge(other)

    def __add__(self, other: GroupedSketch) -> GroupedSketch:
        return self.copy().merge(other)

    def copy(self) -> GroupedSketch:
        out = GroupedSketch(
            self._template.bins,
            self._template.classes,
            row_sum_atol=self._template._row_sum_atol,
            backend=self._template._backend,
        )
        out._groups = {k: s.copy() for k, s in self._groups.items()}
        return out

    def __getitem__(self, key: Any) -> ReliabilitySketch:
        return self._groups[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._groups

    def __len__(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self._groups, key=lambda k: (isinstance(k, str), k)))

    def items(self) -> Iterable[tuple[Any, ReliabilitySketch]]:
        return ((k, self._groups[k]) for k in self)

    @property
    def count(self) -> int:
        return sum(s.count for s in self._groups.values())

    def overall(self) -> ReliabilitySketch:
        """All groups merged: the sketch of the whole stream."""
        return merge_all(self._groups.values()) if self._groups else self._new()

    def pce(self, *, norm: str = "l1") -> float:
        """PCE across the groups (mean statistic; top-label pairs, or the class average
        for a marginal sketch), from the exact per-group sums."""
        return pce_from_sketches(self._groups.values(), norm=norm)

    def metrics(self) -> dict[Any, dict[str, float]]:
        return {k: s.metrics() for k, s in self.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GroupedSketch):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"GroupedSketch(bins={self._template.bins}, classes={self._template.classes}, groups={len(self)}, "
            f"count={self.count})"
        )

    def to_bytes(self) -> bytes:
        """An envelope (type 3) holding a JSON header (settings, keys, blob sizes) and each
        group's sketch blob (each with its own checks), keys in sorted order."""
        keys = list(self)
        blobs = [self._groups[k].to_bytes() for k in keys]
        template = self._template.to_bytes()
        header = json.dumps(
            {"keys": keys, "sizes": [len(b) for b in blobs], "template": len(template)}, separators=(",", ":")
        ).encode()
        payload = struct.pack("<I", len(header)) + header + template + b"".join(blobs)
        return _serde.pack_payload(TYPE_GROUPED_SKETCH, payload)

    @classmethod
    def from_bytes(cls, data: bytes) -> GroupedSketch:
        payload = _serde.unpack_payload(data, TYPE_GROUPED_SKETCH)
        try:
            (hlen,) = struct.unpack_from("<I", payload)
            header = json.loads(payload[4 : 4 + hlen])
            keys, sizes, tlen = header["keys"], header["sizes"], int(header["template"])
            if not isinstance(keys, list) or not isinstance(sizes, list) or len(keys) != len(sizes):
                raise ValueError("keys and sizes disagree")
            if any(not isinstance(k, (str, int)) or isinstance(k, bool) for k in keys) or len(set(keys)) != len(keys):
                raise ValueError("keys must be distinct strings or integers")
            if any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in sizes):
                raise ValueError("sizes must be positive integers")
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"calipers grouped-sketch blob has a malformed header: {exc}") from exc
        pos = 4 + hlen
        if tlen <= 0 or pos + tlen + sum(sizes) != len(payload):
            raise ValueError("calipers grouped-sketch blob sizes do not add up: truncated or padded")
        template = ReliabilitySketch.from_bytes(payload[pos : pos + tlen])
        if template.count:
            raise ValueError("calipers grouped-sketch blob has a non-empty template")
        out = cls(template.bins, template.classes, row_sum_atol=template._row_sum_atol)
        pos += tlen
        for key, size in zip(keys, sizes):
            sketch = ReliabilitySketch.from_bytes(payload[pos : pos + size])
            if (sketch.bins, sketch.classes) != (template.bins, template.classes):
                raise ValueError(f"calipers grouped-sketch blob: group {key!r} has other settings")
            out._groups[key] = sketch
            pos += size
        return out

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (GroupedSketch.from_bytes, (self.to_bytes(),))
