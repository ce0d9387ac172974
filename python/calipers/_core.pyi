# Hand-written stubs for the C++ extension (cpp/bindings/*.cpp). The kernels' meaning,
# dtypes and errors are documented once, in calipers/_kernels/contract.py; this file
# declares every function the extension exports (tests/test_kernel_contract.py checks).
from typing import Any

import numpy as np
import numpy.typing as npt

_Floats = npt.NDArray[np.floating[Any]]
_Ints = npt.NDArray[np.integer[Any]] | npt.NDArray[np.bool_]
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_Counts = tuple[tuple[int, ...], tuple[int, ...]]

GRID_CELLS: int
GRID_OCTAVES: int
GRID_SUB_BITS: int
WEIGHT_BITS: int
__version__: str

# validation
def validate_binary(scores: _Floats, labels: _Ints) -> _Counts: ...
def validate_probs(scores: _Floats, labels: _Ints, atol: float, check_rows: bool) -> _Counts: ...

# the sketch
def accumulate(
    acc: npt.NDArray[np.uint64], bins: int, streams: int, parts: int, scores: _Floats, labels: _Ints, kind: int
) -> None: ...
def accumulate_checked(
    acc: npt.NDArray[np.uint64],
    bins: int,
    streams: int,
    parts: int,
    scores: _Floats,
    labels: _Ints,
    kind: int,
    weights: _F64 | None,
    atol: float,
) -> None: ...
def binned_sums(
    scores: _Floats,
    labels: _Ints,
    weights: _F64 | None,
    bins: int,
    kind: int,
    parts: int,
    atol: float,
    cuts: _F64 | None = None,
) -> npt.NDArray[np.uint64]: ...
def top_label(scores: _Floats, labels: _Ints) -> tuple[_F64, npt.NDArray[np.int8]]: ...
def binned_stats_edges(
    scores: _Floats, labels: _Ints, cuts: _F64, right_closed: bool, nbins: int
) -> tuple[_I64, _F64, _F64]: ...
def unit_stats(scores: _Floats, labels: _Ints, bins: int) -> tuple[_I64, _F64, _F64]: ...
def accumulate_rows(
    acc: npt.NDArray[np.uint64],
    bins: int,
    octaves: int,
    sub_bits: int,
    rows: _I64,
    scores: _F64,
    positive: npt.NDArray[np.uint8],
) -> None: ...
def det_log(x: _F64) -> _F64: ...
def fine_cell(p: _F64) -> _I64: ...

# neighbours
def knn(query: _Floats, pool: _Floats, k: int, exclude: _I64 | None = None) -> tuple[_I64, _F64]: ...
def sdm_support_stats(
    query: _Floats, pool: _Floats, k: int, correct: npt.NDArray[np.uint8], pred: _I64, query_pred: _I64
) -> tuple[_I64, _F64, _I64]: ...

# calibrators
def temperature_stats(
    logits: _Floats, labels: _Ints, weights: _F64 | None, beta: float
) -> tuple[float, float, float, float]: ...
def temperature_fit(logits: _Floats, labels: _Ints, weights: _F64 | None) -> tuple[float, int, bool]: ...
def logistic_stats(X: _F64, y: _F64, weights: _F64 | None, theta: _F64) -> tuple[float, _F64, _F64]: ...
def isotonic_fit(x: _F64, y: _F64, weights: _F64, resolution: float) -> tuple[_F64, _F64]: ...
def platt_transform(scores: _F64, a: float, b: float, clip: float) -> _F64: ...
def beta_transform(scores: _F64, a: float, b: float, c: float, eps: float) -> _F64: ...
def interp(scores: _F64, xp: _F64, fp: _F64) -> _F64: ...
def bin_lookup(scores: _F64, cuts: _F64, values: _F64, right_closed: bool) -> _F64: ...
def softmax_scaled(logits: _Floats, beta: float) -> _F64: ...

# log scanning (C++ only: the Python row parser is the reference)
def scan_log(
    data: bytes | bytearray | memoryview, delimiter: str, fields: list[tuple[str, int, int, int, int]], width: int
) -> dict[str, Any]: ...

# the process-wide thread pool
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def pool_workers() -> int: ...

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
