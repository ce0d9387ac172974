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
def accumulate_rows(
    acc: npt.NDArray[np.uint64],
    bins: int,
    octaves: int,
    sub_bits: int,
    rows: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    positive: npt.NDArray[np.uint8],
) -> None: ...
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
