# Hand-written stubs for the C++ extension (cpp/bindings/module.cpp).
from typing import Any

import numpy as np
import numpy.typing as npt

GRID_CELLS: int
GRID_OCTAVES: int
GRID_SUB_BITS: int
__version__: str

def validate_binary(
    scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer]
) -> tuple[tuple[int, ...], tuple[int, ...]]: ...
def validate_probs(
    scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer], atol: float, check_rows: bool
) -> tuple[tuple[int, ...], tuple[int, ...]]: ...
def accumulate(
    acc: npt.NDArray[np.uint64],
    bins: int,
    streams: int,
    parts: int,
    scores: npt.NDArray[np.floating],
    labels: npt.NDArray[np.integer],
    kind: int,
) -> None: ...
def binned_stats_edges(
    scores: npt.NDArray[np.floating],
    labels: npt.NDArray[np.integer],
    cuts: npt.ArrayLike,
    right_closed: bool,
    nbins: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def top_label(
    scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]: ...
def det_log(x: float) -> float: ...
def fine_cell(p: float) -> int: ...
def scan_log(
    data: bytes, delimiter: str, fields: list[tuple[str, int, int, int, int]], width: int
) -> dict[str, Any]: ...
def unit_stats(
    scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer], bins: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def knn(
    query: npt.NDArray[np.floating],
    pool: npt.NDArray[np.floating],
    k: int,
    exclude: npt.ArrayLike | None = None,
    threads: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def sdm_support_stats(
    query: npt.NDArray[np.floating],
    pool: npt.NDArray[np.floating],
    k: int,
    correct: npt.ArrayLike,
    pred: npt.ArrayLike,
    query_pred: npt.ArrayLike,
    threads: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...

# downstream debiasing (cpp/bindings/register_debias.cpp)
def kde_score(
    points: npt.NDArray[np.float64], weights: npt.NDArray[np.float64] | None, queries: npt.NDArray[np.float64], h: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def linear_binning(
    points: npt.NDArray[np.float64], weights: npt.NDArray[np.float64] | None, lo: float, step: float, cells: int
) -> npt.NDArray[np.float64]: ...
def grid_score(
    queries: npt.NDArray[np.float64],
    lo: float,
    step: float,
    values: npt.NDArray[np.float64],
    slopes: npt.NDArray[np.float64],
    fd_delta: float,
) -> npt.NDArray[np.float64]: ...
def hcalibration_loss_grad(
    probs: npt.NDArray[np.float64],
    labels: npt.NDArray[np.integer],
    window: int,
    eps: float,
    weighting: int,
    leave_one_out: bool,
    scale: float,
    want_grad: bool,
) -> tuple[float, npt.NDArray[np.float64]]: ...
