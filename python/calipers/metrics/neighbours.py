"""Exact k nearest neighbours and the proximity of Xiong et al. (NeurIPS 2023).

``knn`` is exact on squared L2 distance (C++ kernel; Numba and numpy mirrors compute the
same bits): sum_d (q_d - x_d)^2 accumulated in the input's precision (float32 input: float,
as faiss does; float64: double) in dimension order, ties to the smaller pool index.

``proximity(query, pool, k)`` measures how dense the neighbourhood of each query is:

* ``agg="mean_of_exp"`` (the repo, ``compute_calibration_metrics.py``): mean_i exp(-d_i)
  with d_i the squared L2 distance to the i-th neighbour (faiss ``IndexFlatL2``'s
  distance), so on unit vectors proximity lies in [e^-4, 1];
* ``agg="exp_of_mean"`` (the paper): exp(-mean_i d_i) with ``metric="euclidean"``.

Embeddings are L2-normalised first (``normalize=True``, the repo's ``--normalize True``).
With ``exclude_self=True`` the query set is the pool and query i never counts pool row i
(by index, so exact duplicates still count each other).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.validate import as_embeddings, check_choice, check_int
from .._kernels import backend as _backend

__all__ = ["knn", "proximity"]

METRICS = ("sqeuclidean", "euclidean", "cosine")
AGGREGATIONS = ("mean_of_exp", "exp_of_mean")


def _check_k(k: Any, available: int) -> int:
    k = check_int("k", k, 1)
    if k > available:
        raise ValueError(f"k={k} exceeds the {available} candidate neighbour(s) in the pool")
    return int(k)


def knn(
    query: Any, pool: Any, k: int, *, exclude_self: bool = False, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, squared L2 distances), each (n_query, k), nearest first; ties go to the
    smaller pool index. ``exclude_self=True`` skips pool row i for query i (query is pool)."""
    q = as_embeddings(query, "query")
    x = as_embeddings(pool, "pool")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"query has {q.shape[1]} dims, pool has {x.shape[1]}")
    if q.dtype != x.dtype:
        q, x = q.astype(np.float64), x.astype(np.float64)
    exclude = None
    if exclude_self:
        if len(q) != len(x):
            raise ValueError("exclude_self=True needs the query set to be the pool (same number of rows)")
        exclude = np.arange(len(q), dtype=np.int64)
    k = _check_k(k, len(x) - (1 if exclude_self else 0))
    index, dist = _backend.resolve(backend).knn(q, x, k, exclude)
    return np.asarray(index), np.asarray(dist)


def _normalized(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    norms = np.linalg.norm(x64, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(
            f"cannot L2-normalise a zero row (row {int(np.argmax(norms[:, 0] == 0))}); pass normalize=False"
        )
    return np.asarray(x64 / norms)


def proximity(
    query: Any,
    pool: Any = None,
    k: int = 10,
    *,
    metric: str = "sqeuclidean",
    agg: str = "mean_of_exp",
    normalize: bool = True,
    exclude_self: bool | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Proximity of each query row to its k nearest rows of ``pool`` (see the module
    docstring). ``pool=None`` uses the queries themselves with ``exclude_self`` on
    (the repo's K+1-and-drop-self for calibration points, done by index)."""
    check_choice("metric", metric, METRICS)
    check_choice("agg", agg, AGGREGATIONS)
    q = as_embeddings(query, "query")
    same = pool is None
    x = q if same else as_embeddings(pool, "pool")
    if exclude_self is None:
        exclude_self = same
    if normalize or metric == "cosine":
        q = _normalized(q)
        x = q if same else _normalized(x)
    _, d = knn(q, x, k, exclude_self=exclude_self, backend=backend)
    if metric == "euclidean":
        d = np.sqrt(d)
    elif metric == "cosine":
        d = d / 2.0  # 1 - cos for unit vectors
    if agg == "mean_of_exp":
        return np.asarray(np.mean(np.exp(-d), axis=1))
    return np.asarray(np.exp(-np.mean(d, axis=1)))
