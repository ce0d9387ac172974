"""The SDM estimator (similarity-distance-magnitude calibration, Reexpress AI; the canonical
estimator of the SDM-activations paper and the reference MCP server code).

For each input with embedding h and logits z (prediction y^ = argmax z, first maximum on
ties):

* q, the similarity: walking the support set from the nearest point outwards (squared L2,
  ties to the smaller index), the number of support points before the first one that is
  either mislabelled by its own model prediction or predicts another class than y^, capped
  at k = min(k, support size). Support labels -1 (unlabelled) and -99 (out of
  distribution) never match, so they only ever lower q.
* d0, the squared distance to the nearest support point, and d, its distance quantile:
  min over classes c of 1 - #(calibration d0 of class c with q > 0 below d0) / their
  count (0 for a class with none).
* sdm = softmax(z d ln(2 + q)); q' = min(q, (2 + q)^sdm[y^]); is_ood = floor(q') <= 0.
* Calibration (Alg. 1) finds the smallest q' threshold q'_min whose region makes the
  alpha-quantile of every class's SDM output (on its true-class calibration points) reach
  alpha, with per-class thresholds psi; an input is in the high-reliability region when it
  is not OOD, q' >= q'_min, and sdm[y^] >= psi[y^] is the only class passing its threshold.
* The DKW band: n_c effective samples (calibration q' of class c below q'), eps = max_c
  sqrt(ln(2 / (1 - alpha)) / (2 n_c)) (1 when n_c = 0), d_lower/upper = clip(d -+ eps), and
  the same outputs at d_lower (the reference's recommended estimate).

The kNN and q run in C++ (one pass over the distances: no sort), with Numba and numpy
mirrors that return the same neighbours, or through faiss ``IndexFlatL2`` when asked
(``neighbours="faiss"``, needs ``faiss-cpu``).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ._common import jsontext
from ._common import serde as _serde
from ._common.optional import require
from ._common.saved import saved_int, saved_number, saved_numbers, saved_optional_number
from ._common.validate import as_embeddings, check_int, check_number
from ._kernels import backend as _backend

__all__ = ["SDMEstimator", "SDMPrediction"]

TYPE_SDM = _serde.TYPE_SDM
OOD_LABEL = -99
UNLABELED = -1


@dataclass(frozen=True)
class SDMPrediction:
    """Per-sample outputs of :meth:`SDMEstimator.predict` (arrays of length n; ``sdm*`` and
    ``n_effective`` are (n, C)). ``prediction`` is always argmax of the logits."""

    prediction: np.ndarray
    q: np.ndarray
    d0: np.ndarray
    d: np.ndarray
    sdm: np.ndarray
    q_prime: np.ndarray
    is_ood: np.ndarray
    is_high_reliability: np.ndarray
    n_effective: np.ndarray
    d_lower: np.ndarray
    d_upper: np.ndarray
    sdm_lower: np.ndarray
    sdm_upper: np.ndarray
    q_prime_lower: np.ndarray
    is_high_reliability_lower: np.ndarray
    nearest_index: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        value: np.ndarray = getattr(self, name)
        return value

    @property
    def floor_q_prime(self) -> np.ndarray:
        """floor(q'), the integer similarity bin of the reference (OOD when <= 0)."""
        return np.asarray(np.floor(self.q_prime).astype(np.int64))

    @property
    def floor_q_prime_lower(self) -> np.ndarray:
        """The reference's integer similarity bins of ``q_prime_lower``."""
        return np.asarray(np.floor(self.q_prime_lower).astype(np.int64))

    def to_dict(self) -> dict[str, np.ndarray]:
        """Every output array by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _logits(z: Any, name: str, n: int, classes: int | None) -> np.ndarray:
    arr = np.asarray(z)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n}, C), got {arr.shape}")
    if arr.shape[1] < 2 or (classes is not None and arr.shape[1] != classes):
        raise ValueError(f"{name} must have {classes or 'at least 2'} columns, got {arr.shape[1]}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} must be finite: first bad row {int(np.argmax(bad))}")
    return arr


def _labels(y: Any, name: str, n: int, classes: int, support: bool) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise TypeError(f"{name} must be a 1-D integer array, got dtype {arr.dtype} and shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries, expected {n}")
    arr = arr.astype(np.int64)
    ok = (arr >= 0) & (arr < classes)
    if support:
        ok |= (arr == UNLABELED) | (arr == OOD_LABEL)
    if not ok.all():
        allowed = f"[0, {classes})" + (", -1 (unlabelled) or -99 (OOD)" if support else "")
        raise ValueError(
            f"{name} must lie in {allowed}: {int((~ok).sum())} do not, first at index "
            f"{int(np.argmax(~ok))} ({int(arr[np.argmax(~ok)])})"
        )
    return arr


def sdm_activation(z: np.ndarray, q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """softmax(z d ln(2 + q)) with max-subtraction."""
    scaled = z * (d * np.log(2.0 + q))[:, None]
    scaled -= scaled.max(axis=1, keepdims=True)
    e = np.exp(scaled)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def rescaled_similarity(q: np.ndarray, sdm: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """q' = min(q, (2 + q)^sdm[y^])."""
    top = sdm[np.arange(len(q)), prediction]
    return np.asarray(np.minimum(q.astype(np.float64), np.power(2.0 + q, top)))


class SDMEstimator:
    """SDM calibration with a high-reliability region and abstention (see the module
    docstring; spec: the canonical estimator of Reexpress AI's reference code).

    ``SDMEstimator(alpha=0.9, k=2048).fit(train_embeddings, train_logits, train_labels,
    calibration_embeddings, calibration_logits, calibration_labels)``, then
    ``predict(embeddings, logits) -> SDMPrediction``. ``add_support`` appends labelled
    points to the support set without recalibrating, as the reference does.
    """

    def __init__(self, alpha: float = 0.9, k: int = 2048, *, backend: str = "auto", neighbours: str = "exact") -> None:
        check_number("alpha", alpha, 0.5, 1.0, low_open=True)
        k = check_int("k", k, 1, 1 << 30)
        if neighbours not in ("exact", "faiss"):
            raise ValueError(f"neighbours must be 'exact' or 'faiss', got {neighbours!r}")
        self.alpha = float(alpha)
        self.k = int(k)
        self.backend = backend
        self.neighbours = neighbours
        self._fitted = False

    # ------------------------------------------------------------------ fitting
    def _set_support(self, embeddings: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> None:
        """The support set and what every query reuses: which points their own model got
        right, and (built on first use) the faiss index."""
        self._support, self._support_labels, self._support_pred = embeddings, labels, predictions
        self._support_correct = (labels == predictions).astype(np.uint8)
        self._faiss_index: Any = None

    def _support_stats(self, h: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = min(self.k, len(self._support))
        if self.neighbours == "faiss":
            return self._faiss_stats(h, prediction, k)
        stats: tuple[np.ndarray, np.ndarray, np.ndarray] = _backend.resolve(self.backend).sdm_support_stats(
            h, self._support, k, self._support_correct, self._support_pred, prediction
        )
        return stats

    def _faiss_stats(self, h: np.ndarray, prediction: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._faiss_index is None:
            faiss = require("faiss", "SDMEstimator(neighbours='faiss')")
            self._faiss_index = faiss.IndexFlatL2(self._support.shape[1])
            self._faiss_index.add(np.ascontiguousarray(self._support, np.float32))
        dist, idx = self._faiss_index.search(np.ascontiguousarray(h, np.float32), k)
        match = (self._support_correct[idx] != 0) & (self._support_pred[idx] == prediction[:, None])
        q = np.cumprod(match, axis=1).sum(axis=1).astype(np.int64)
        return q, np.maximum(dist[:, 0].astype(np.float64), 0.0), idx[:, 0].astype(np.int64)

    def _distance_quantile(self, d0: np.ndarray) -> np.ndarray:
        per_class = np.zeros((len(d0), self.classes))
        for c, cdf in enumerate(self._d_cdf):
            if cdf.size:
                per_class[:, c] = 1.0 - np.searchsorted(cdf, d0, side="left") / cdf.size
        return np.asarray(per_class.min(axis=1))

    def fit(
        self,
        train_embeddings: Any,
        train_logits: Any,
        train_labels: Any,
        calibration_embeddings: Any,
        calibration_logits: Any,
        calibration_labels: Any,
    ) -> SDMEstimator:
        """Keep the support set (train embeddings, labels and the predictions of their logits),
        run the kNN of the calibration points into it, and set q'_min and the per-class
        thresholds (Alg. 1). Support labels may be -1 or -99; calibration labels are classes."""
        support = as_embeddings(train_embeddings, "train_embeddings")
        z_tr = _logits(train_logits, "train_logits", len(support), None)
        classes = z_tr.shape[1]
        y_tr = _labels(train_labels, "train_labels", len(support), classes, support=True)
        h_ca = as_embeddings(calibration_embeddings, "calibration_embeddings", support.dtype)
        if h_ca.shape[1] != support.shape[1]:
            raise ValueError(f"calibration_embeddings have {h_ca.shape[1]} dims, train_embeddings {support.shape[1]}")
        z_ca = _logits(calibration_logits, "calibration_logits", len(h_ca), classes)
        y_ca = _labels(calibration_labels, "calibration_labels", len(h_ca), classes, support=False)
        self.classes = classes
        self._set_support(support, y_tr, np.argmax(z_tr, axis=1).astype(np.int64))
        pred_ca = np.argmax(z_ca, axis=1).astype(np.int64)
        q, d0, _ = self._support_stats(h_ca, pred_ca)
        self._d_cdf = [np.sort(d0[(y_ca == c) & (q > 0)]) for c in range(classes)]
        d = self._distance_quantile(d0)
        sdm = sdm_activation(z_ca, q, d)
        q_prime = rescaled_similarity(q, sdm, pred_ca)
        self._q_sorted = [np.sort(q_prime[y_ca == c]) for c in range(classes)]
        self._calibrate(sdm, q_prime, y_ca)
        self._fitted = True
        return self

    def _calibrate(self, sdm: np.ndarray, q_prime: np.ndarray, labels: np.ndarray) -> None:
        """Alg. 1: the smallest candidate q' (over non-OOD calibration points) at which every
        class's (1 - alpha)-quantile, v[min(int((1 - alpha) m), m - 1)] of the sorted SDM
        outputs of its points with q' >= candidate, reaches alpha. v[r] >= alpha exactly
        when at most r of them are below alpha, so every candidate is tested at once from
        suffix counts (O(n log n)) instead of re-sorting per candidate."""
        non_ood = np.floor(q_prime) > 0
        own = sdm[np.arange(len(labels)), labels]
        candidates = np.unique(q_prime[non_ood])
        passing = np.ones(candidates.size, bool)
        members = []
        for c in range(self.classes):
            mine = non_ood & (labels == c)
            order = np.argsort(q_prime[mine], kind="stable")
            qq, below = q_prime[mine][order], (own[mine][order] < self.alpha).astype(np.int64)
            suffix_below = np.concatenate([np.cumsum(below[::-1])[::-1], [0]])
            start = np.searchsorted(qq, candidates, side="left")
            m = qq.size - start
            rank = np.minimum(((1.0 - self.alpha) * m).astype(np.int64), m - 1)
            passing &= (m > 0) & (suffix_below[start] <= rank)
            members.append((own[mine], q_prime[mine]))
        psi = np.zeros(self.classes)
        self._q_prime_min, self._acc_hr = math.inf, 0.0
        if passing.any():
            cand = float(candidates[np.argmax(passing)])
            for c, (s, qq) in enumerate(members):
                v = np.sort(s[qq >= cand])
                psi[c] = max(float(v[min(int((1.0 - self.alpha) * v.size), v.size - 1)]), 0.0)
            self._q_prime_min, self._acc_hr = cand, self.alpha
        self._psi = psi

    def add_support(self, embeddings: Any, logits: Any, labels: Any) -> SDMEstimator:
        """Append labelled points (labels may be -1 or -99) to the support set; the
        calibration (d quantiles, q'_min, thresholds) is kept, as the reference does."""
        h, z = self._inputs(embeddings, logits)
        y = _labels(labels, "labels", len(h), self.classes, support=True)
        self._set_support(
            np.concatenate([self._support, h]),
            np.concatenate([self._support_labels, y]),
            np.concatenate([self._support_pred, np.argmax(z, axis=1).astype(np.int64)]),
        )
        return self

    # --------------------------------------------------------------- predicting
    def _check_fitted(self) -> None:
        if not self._fitted:
            raise ValueError("this SDMEstimator is not fitted: call fit(...) first")

    def _region(self, q_prime: np.ndarray, sdm: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        is_ood = np.floor(q_prime) <= 0
        valid = ~is_ood & (q_prime >= self._q_prime_min)
        passing = sdm >= self._psi[None, :]
        only_prediction = (passing.sum(axis=1) == 1) & passing[np.arange(len(prediction)), prediction]
        return np.asarray(valid & (self._acc_hr > 0) & only_prediction)

    def _inputs(self, embeddings: Any, logits: Any) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (in the support set's dtype and width) and logits of new points."""
        self._check_fitted()
        h = as_embeddings(embeddings, "embeddings", self._support.dtype)
        if h.shape[1] != self._support.shape[1]:
            raise ValueError(f"embeddings have {h.shape[1]} dims, the support set {self._support.shape[1]}")
        return h, _logits(logits, "logits", len(h), self.classes)

    def predict(self, embeddings: Any, logits: Any) -> SDMPrediction:
        """Per-sample SDM outputs (:class:`SDMPrediction`) for new embeddings and logits."""
        h, z = self._inputs(embeddings, logits)
        prediction = np.argmax(z, axis=1).astype(np.int64)
        q, d0, nearest = self._support_stats(h, prediction)
        d0 = np.maximum(np.asarray(d0, np.float64), 0.0)
        d = self._distance_quantile(d0)
        sdm = sdm_activation(z, q, d)
        q_prime = rescaled_similarity(q, sdm, prediction)
        n_eff = np.zeros((len(h), self.classes), np.int64)
        for c, qs in enumerate(self._q_sorted):
            n_eff[:, c] = np.minimum(np.searchsorted(qs, q_prime, side="left"), max(0, qs.size - 1))
        log_term = math.log(2.0 / (1.0 - self.alpha)) if self.alpha < 1.0 else math.inf
        eps = np.where(n_eff > 0, np.sqrt(log_term / (2.0 * np.maximum(n_eff, 1))), 1.0).max(axis=1)
        d_lower, d_upper = np.clip(d - eps, 0.0, 1.0), np.clip(d + eps, 0.0, 1.0)
        sdm_lower, sdm_upper = sdm_activation(z, q, d_lower), sdm_activation(z, q, d_upper)
        q_prime_lower = rescaled_similarity(q, sdm_lower, prediction)
        return SDMPrediction(
            prediction=prediction,
            q=np.asarray(q, np.int64),
            d0=d0,
            d=d,
            sdm=sdm,
            q_prime=q_prime,
            is_ood=np.floor(q_prime) <= 0,
            is_high_reliability=self._region(q_prime, sdm, prediction),
            n_effective=n_eff,
            d_lower=d_lower,
            d_upper=d_upper,
            sdm_lower=sdm_lower,
            sdm_upper=sdm_upper,
            q_prime_lower=q_prime_lower,
            is_high_reliability_lower=self._region(q_prime_lower, sdm_lower, prediction),
            nearest_index=np.asarray(nearest, np.int64),
        )

    # ---------------------------------------------------------------- properties
    @property
    def q_prime_min(self) -> float:
        """The calibrated q' threshold (+inf: no region reaches alpha, nothing is admitted)."""
        self._check_fitted()
        return self._q_prime_min

    @property
    def thresholds(self) -> np.ndarray:
        """psi: the per-class SDM thresholds (all 0 when q'_min is infinite)."""
        self._check_fitted()
        return self._psi.copy()

    @property
    def support_size(self) -> int:
        """Number of labelled points in the support set."""
        self._check_fitted()
        return len(self._support)

    # ------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """Envelope type 5: a JSON header (settings, calibration scalars, array layout), then
        the arrays (support embeddings in their dtype, labels, predictions, the sorted d0
        and q' of each class) little-endian."""
        self._check_fitted()
        arrays = [
            ("support", self._support),
            ("support_labels", self._support_labels),
            ("support_pred", self._support_pred),
        ]
        arrays += [(f"d_cdf{c}", a) for c, a in enumerate(self._d_cdf)]
        arrays += [(f"q_sorted{c}", a) for c, a in enumerate(self._q_sorted)]
        layout = [(name, a.dtype.str.replace(">", "<").replace("=", "<"), list(a.shape)) for name, a in arrays]
        header = {
            "alpha": self.alpha,
            "k": self.k,
            "classes": self.classes,
            "neighbours": self.neighbours,
            "q_prime_min": None if math.isinf(self._q_prime_min) else self._q_prime_min,
            "acc_hr": self._acc_hr,
            "psi": self._psi.tolist(),
            "layout": layout,
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        body = b"".join(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes() for _, a in arrays)
        return _serde.pack_payload(TYPE_SDM, struct.pack("<I", len(head)) + head + body)

    @classmethod
    def from_bytes(cls, data: bytes, *, backend: str = "auto") -> SDMEstimator:
        """Rebuild an estimator from :meth:`to_bytes` output, checking every invariant of a
        fitted one (ValueError otherwise)."""
        payload = _serde.unpack_payload(data, TYPE_SDM)
        try:
            (hlen,) = struct.unpack_from("<I", payload)
            h = jsontext.loads(payload[4 : 4 + hlen], object_pairs_hook=jsontext.unique_keys)
            owner = "SDM header"
            if not isinstance(h.get("neighbours"), str):
                raise ValueError(f"{owner}: field 'neighbours' must be a JSON string, got {h.get('neighbours')!r}")
            alpha, k = saved_number(h, "alpha", owner), saved_int(h, "k", owner)
            out = cls(alpha, k, backend=backend, neighbours=h["neighbours"])
            classes = saved_int(h, "classes", owner)
            layout = h["layout"]
            if not isinstance(layout, list) or not 2 <= classes <= 1_000_000 or len(layout) != 3 + 2 * classes:
                raise ValueError(f"classes={classes} does not match {len(layout)} arrays")
            expected = (
                ["support", "support_labels", "support_pred"]
                + [f"d_cdf{c}" for c in range(classes)]
                + [f"q_sorted{c}" for c in range(classes)]
            )
            if [entry[0] for entry in layout] != expected:
                raise ValueError("unexpected array layout")
            arrays: dict[str, np.ndarray] = {}
            pos, body = 0, payload[4 + hlen :]
            for name, dtype, shape in layout:
                dt = np.dtype(dtype)
                if dt.kind not in "fi" or dt.itemsize not in (4, 8):
                    raise ValueError(f"unexpected dtype {dtype} for {name}")
                if (
                    not isinstance(shape, list)
                    or not 1 <= len(shape) <= 2
                    or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in shape)
                ):
                    raise ValueError(f"bad shape {shape!r} for {name}")
                size = int(np.prod(shape)) * dt.itemsize
                if pos + size > len(body):
                    raise ValueError("arrays run past the end")
                arrays[name] = (
                    np.frombuffer(body, dt, int(np.prod(shape)), pos).reshape(shape).astype(dt.newbyteorder("="))
                )
                pos += size
            if pos != len(body):
                raise ValueError("trailing bytes after the arrays")
            psi: np.ndarray = saved_numbers(h, "psi", owner)
            q_min = saved_optional_number(h, "q_prime_min", owner, none=math.inf)
            acc = saved_number(h, "acc_hr", owner)
        except (struct.error, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"calipers SDM blob is malformed: {exc}") from exc
        support = arrays["support"]
        n = len(support) if support.ndim == 2 else -1
        if (
            n < 1
            or support.dtype.kind != "f"
            or arrays["support_labels"].shape != (n,)
            or arrays["support_pred"].shape != (n,)
            or psi.shape != (classes,)
            or classes < 2
            or not np.all(np.isfinite(support))
            or np.any(arrays["support_pred"] < 0)
            or np.any(arrays["support_pred"] >= classes)
        ):
            raise ValueError("calipers SDM blob is inconsistent (support arrays, classes or thresholds)")
        out.classes = classes
        out._set_support(
            np.ascontiguousarray(support),
            arrays["support_labels"].astype(np.int64),
            arrays["support_pred"].astype(np.int64),
        )
        out._d_cdf = [arrays[f"d_cdf{c}"].astype(np.float64) for c in range(classes)]
        out._q_sorted = [arrays[f"q_sorted{c}"].astype(np.float64) for c in range(classes)]
        _check_calibration(out, arrays, psi, q_min, acc, classes)
        out._psi, out._q_prime_min, out._acc_hr = psi, q_min, acc
        out._fitted = True
        return out

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (SDMEstimator.from_bytes, (self.to_bytes(),))


def _check_calibration(
    est: SDMEstimator, arrays: dict[str, np.ndarray], psi: np.ndarray, q_min: float, acc: float, classes: int
) -> None:
    """What a fit (and add_support) leaves: support labels that are classes, -1 or -99;
    sorted, finite, non-negative calibration distances and q' (q' <= k); at most as many
    distances as calibration points; thresholds psi in [0, 1] (all 0 without a region, all
    >= alpha with one); q'_min >= 1 (a region starts above OOD) and one of the calibration q'
    values, or infinite; accuracy alpha or 0 without one."""
    labels = arrays["support_labels"]
    ok = ((labels >= 0) & (labels < classes)) | (labels == UNLABELED) | (labels == OOD_LABEL)
    if labels.dtype.kind != "i" or not ok.all():
        raise ValueError("calipers SDM blob is inconsistent: a support label is not a class, -1 or -99")
    d_cdf, q_sorted = est._d_cdf, est._q_sorted
    for name, values, top in (("distances", d_cdf, math.inf), ("q'", q_sorted, float(est.k))):
        for a in values:
            if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > top) or np.any(np.diff(a) < 0):
                raise ValueError(f"calipers SDM blob is inconsistent: calibration {name} must be sorted, finite, >= 0")
    if any(d.size > q.size for d, q in zip(d_cdf, q_sorted)):
        raise ValueError("calipers SDM blob is inconsistent: more calibration distances than calibration points")
    if not (np.all(np.isfinite(psi)) and np.all((psi >= 0) & (psi <= 1))):
        raise ValueError("calipers SDM blob is inconsistent: thresholds psi must lie in [0, 1]")
    if math.isinf(q_min):
        if q_min < 0 or acc != 0.0 or np.any(psi != 0):
            raise ValueError("calipers SDM blob is inconsistent: no region, yet thresholds or an accuracy")
    elif not (math.isfinite(q_min) and q_min >= 1.0 and acc == est.alpha):
        raise ValueError("calipers SDM blob is inconsistent: q'_min must be >= 1 with accuracy alpha")
    elif not np.all(psi >= est.alpha):  # Alg. 1 admits a candidate only when every class reaches alpha
        raise ValueError("calipers SDM blob is inconsistent: with a region every threshold psi must be >= alpha")
    elif not any(np.any(q == q_min) for q in q_sorted):  # the candidates are calibration q' values
        raise ValueError("calipers SDM blob is inconsistent: q'_min is not one of the calibration q' values")
