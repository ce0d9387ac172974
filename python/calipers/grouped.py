"""Group-wise calibration: PCE (Yang et al. 2023), PIECE (Xiong et al. 2023) and a sketch
keyed by group.

PCE with the mean statistic: ``sum_P w_P sum_G (n_G / n) L(mean y_G, mean f_G)`` over one
or more partitions P of the rows (weights 1/P unless given), with ``L = |.|`` (``norm="l1"``)
or the squared difference (``"l2"``). 1-D scores are P(y = 1) forecasts, (n, K) scores use
the top-label pair (confidence, correct) or, with ``mode="marginal"``, the class average of
the class-wise discrepancies. Special cases: one group gives ``|mean f - mean y|``; the
equal-width confidence bins give the binned ECE; refining a partition never lowers PCE.

PIECE is PCE over the joint bins (confidence bin, proximity bin): confidence in the same
equal-width bins as :func:`calipers.ece` (so PIECE >= ECE), proximity in quantile bins of
the evaluation set's own proximities as scikit-learn's ``KBinsDiscretizer(strategy=
"quantile")`` makes them (percentile edges, bins narrower than 1e-8 dropped,
``searchsorted(edges[1:-1], x, side="right")``), or in fixed ``prox_edges`` taken from a
calibration set so values are comparable across sets.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from . import _backend, _serde
from ._bins import stream_pairs
from ._grid import KIND_MARGINAL, width_edges
from ._validate import DEFAULT_ROW_SUM_ATOL, Checked, check, check_bins, check_choice
from .sketch import ReliabilitySketch, merge_all

__all__ = ["pce", "piece", "quantile_edges", "GroupedSketch"]

TYPE_GROUPED_SKETCH = 3


def _discrepancy(f: np.ndarray, y: np.ndarray, norm: str) -> np.ndarray:
    gap = np.abs(f - y)
    return gap if norm == "l1" else gap * gap


def _group_codes(groups: Any, n: int, name: str = "groups") -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) != n:
        raise ValueError(f"{name} must be 1-D with one entry per row ({n}), got shape {g.shape}")
    _, codes = np.unique(g, return_inverse=True)
    return codes.reshape(-1)


def _pce_checked(c: Checked, kernels: Any, partitions: list[np.ndarray], weights: np.ndarray, norm: str) -> float:
    """sum_P w_P sum_G (n_G / n) L(mean f_G, mean y_G), class-averaged in marginal mode."""
    if c.kind == KIND_MARGINAL:
        f = c.scores.astype(np.float64, copy=False)
        y = np.zeros_like(f)
        y[np.arange(len(f)), c.labels] = 1.0
    else:
        (p, outcome), = stream_pairs(c, kernels)
        f, y = p.astype(np.float64, copy=False)[:, None], outcome.astype(np.float64)[:, None]
    total = 0.0
    for w, codes in zip(weights, partitions):
        count = np.bincount(codes).astype(np.float64)
        value = 0.0
        for k in range(f.shape[1]):
            f_mean = np.bincount(codes, weights=f[:, k]) / count
            y_mean = np.bincount(codes, weights=y[:, k]) / count
            value += float(np.sum(count / c.n * _discrepancy(f_mean, y_mean, norm)))
        total += w * value / f.shape[1]
    return total


def pce(scores: Any, labels: Any, groups: Any, *, weights: Sequence[float] | None = None, norm: str = "l1",
        mode: str = "top-label", row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> float:
    """Partitioned calibration error. ``groups``: one group id per row (any hashable
    values numpy can sort), or a list of such arrays (several partitions, averaged with
    ``weights``, default equal)."""
    check_choice("norm", norm, ("l1", "l2"))
    kernels = _backend.resolve(backend)
    c = check(scores, labels, kernels, mode=mode, row_sum_atol=row_sum_atol)  # type: ignore[arg-type]
    several = isinstance(groups, (list, tuple)) and len(groups) > 0 and np.ndim(groups[0]) == 1
    parts = list(groups) if several else [groups]
    codes = [_group_codes(g, c.n, f"groups[{i}]" if several else "groups") for i, g in enumerate(parts)]
    w = np.full(len(codes), 1.0 / len(codes)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(codes),) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be {len(codes)} finite non-negative numbers, got {weights!r}")
    return _pce_checked(c, kernels, codes, w, norm)


def quantile_edges(values: Any, bins: int) -> np.ndarray:
    """scikit-learn ``KBinsDiscretizer(strategy="quantile")`` edges: percentiles at
    linspace(0, 100, bins + 1), dropping bins narrower than 1e-8."""
    bins = check_bins(bins)
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("proximity values must be finite and non-empty")
    edges = np.asarray(np.percentile(v, np.linspace(0, 100, bins + 1)))
    keep = np.ediff1d(edges, to_begin=np.inf) > 1e-8
    return edges[keep]


def piece(scores: Any, labels: Any, proximity: Any, *, conf_bins: int = 15, prox_bins: int = 10,
          prox_edges: Any = None, mode: str = "top-label", row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
          backend: str = "auto") -> float:
    """Proximity-informed expected calibration error (see the module docstring): the
    repo's experiments use ``conf_bins=15, prox_bins=10``."""
    if mode != "top-label":
        raise ValueError(f"piece bins the top-label confidence: mode must be 'top-label', got {mode!r}")
    conf_bins = check_bins(conf_bins)
    kernels = _backend.resolve(backend)
    c = check(scores, labels, kernels, mode="top-label", row_sum_atol=row_sum_atol)
    prox = np.asarray(proximity, np.float64).reshape(-1)
    if prox.size != c.n:
        raise ValueError(f"proximity must have one value per row ({c.n}), got {prox.size}")
    if not np.all(np.isfinite(prox)):
        raise ValueError(f"proximity must be finite (first bad index {int(np.argmax(~np.isfinite(prox)))})")
    edges = quantile_edges(prox, prox_bins) if prox_edges is None else np.asarray(prox_edges, np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("prox_edges must be increasing, with at least 2 entries")
    (p, _), = stream_pairs(c, kernels)
    conf_bin = np.searchsorted(width_edges(conf_bins)[1:-1], p.astype(np.float64), side="right")
    prox_bin = np.searchsorted(edges[1:-1], prox, side="right")
    joint = conf_bin * (edges.size - 1) + prox_bin
    return _pce_checked(c, kernels, [_group_codes(joint, c.n)], np.ones(1), "l1")


def pce_from_sketches(sketches: Iterable[ReliabilitySketch], *, norm: str = "l1") -> float:
    """PCE across groups held as sketches (one per group), from their exact sums."""
    check_choice("norm", norm, ("l1", "l2"))
    sketches = list(sketches)
    n = sum(s.count for s in sketches)
    if n == 0:
        return float("nan")
    total = 0.0
    for s in sketches:
        if s.count == 0:
            continue
        per_class = [_discrepancy(np.array([st.sum_score.sum() / s.count]), np.array([st.sum_label.sum() / s.count]),
                                  norm)[0] for st in s._stats("width", None)]
        total += s.count / n * float(np.mean(per_class))
    return total


class GroupedSketch:
    """One :class:`ReliabilitySketch` per group key, updated in one call, merged per key,
    serialized as one blob. Keys are strings or integers (what a log's group column holds).

    ``update(scores, labels, groups)`` validates the whole batch before any group changes
    (all-or-nothing), then feeds each group its rows. ``pce()`` is the PCE across the
    groups, exact from the sketches' sums.
    """

    def __init__(self, bins: int = 15, classes: int | None = None, *, row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
                 backend: str = "auto") -> None:
        self._template = ReliabilitySketch(bins, classes, row_sum_atol=row_sum_atol, backend=backend)
        self._groups: dict[Any, ReliabilitySketch] = {}

    def _new(self) -> ReliabilitySketch:
        return self._template.copy()

    def update(self, scores: Any, labels: Any, groups: Any) -> "GroupedSketch":
        t = self._template
        kernels = _backend.resolve(t._backend)
        mode = "marginal" if t.classes else "top-label"
        c = check(scores, labels, kernels, mode=mode, row_sum_atol=t._row_sum_atol)  # type: ignore[arg-type]
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
        uniq, inverse = np.unique(keys, return_inverse=True)
        staged = {}
        for i, key in enumerate(uniq.tolist()):  # validated once above; each part only accumulates
            rows = inverse.reshape(-1) == i
            staged[key] = self._new()._add_checked(Checked(c.scores[rows], c.labels[rows], c.kind), kernels)
        for key, part in staged.items():  # nothing can fail from here on
            if key in self._groups:
                self._groups[key].merge(part)
            else:
                self._groups[key] = part
        return self

    def merge(self, other: "GroupedSketch") -> "GroupedSketch":
        if not isinstance(other, GroupedSketch):
            raise TypeError(f"can only merge a GroupedSketch, got {type(other).__name__}")
        if (other._template.bins, other._template.classes) != (self._template.bins, self._template.classes):
            raise ValueError("cannot merge grouped sketches with different bins or classes")
        for key, sketch in other._groups.items():
            self._groups[key] = self._groups[key] + sketch if key in self._groups else sketch.copy()
        return self

    def __iadd__(self, other: "GroupedSketch") -> "GroupedSketch":
        return self.merge(other)

    def __add__(self, other: "GroupedSketch") -> "GroupedSketch":
        return self.copy().merge(other)

    def copy(self) -> "GroupedSketch":
        out = GroupedSketch(self._template.bins, self._template.classes, row_sum_atol=self._template._row_sum_atol,
                            backend=self._template._backend)
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
        return f"GroupedSketch(bins={self._template.bins}, classes={self._template.classes}, groups={len(self)}, " \
               f"count={self.count})"

    def to_bytes(self) -> bytes:
        """An envelope (type 3) holding a JSON header (settings, keys, blob sizes) and each
        group's sketch blob (each with its own checks), keys in sorted order."""
        keys = list(self)
        blobs = [self._groups[k].to_bytes() for k in keys]
        template = self._template.to_bytes()
        header = json.dumps({"keys": keys, "sizes": [len(b) for b in blobs], "template": len(template)},
                            separators=(",", ":")).encode()
        payload = struct.pack("<I", len(header)) + header + template + b"".join(blobs)
        return _serde.pack_payload(TYPE_GROUPED_SKETCH, payload)

    @classmethod
    def from_bytes(cls, data: bytes) -> "GroupedSketch":
        payload = _serde.unpack_payload(data, TYPE_GROUPED_SKETCH)
        try:
            (hlen,) = struct.unpack_from("<I", payload)
            header = json.loads(payload[4:4 + hlen])
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
        template = ReliabilitySketch.from_bytes(payload[pos:pos + tlen])
        if template.count:
            raise ValueError("calipers grouped-sketch blob has a non-empty template")
        out = cls(template.bins, template.classes, row_sum_atol=template._row_sum_atol)
        pos += tlen
        for key, size in zip(keys, sizes):
            sketch = ReliabilitySketch.from_bytes(payload[pos:pos + size])
            if (sketch.bins, sketch.classes) != (template.bins, template.classes):
                raise ValueError(f"calipers grouped-sketch blob: group {key!r} has other settings")
            out._groups[key] = sketch
            pos += size
        return out

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (GroupedSketch.from_bytes, (self.to_bytes(),))
