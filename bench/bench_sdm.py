"""SDMEstimator: the neighbour search and q of the calibration set, batch prediction and
one-query latency, in C++ against a numpy matrix-product reference and faiss IndexFlatL2 (when
installed), on the same data, in one run, every side warm, at one thread and at the
machine's thread count.

    python bench/bench_sdm.py --quick   # 5k support x 5k calibration x 128 dims; one query on 20k x 256
    python bench/bench_sdm.py --full    # 20k x 20k x 256
    python -m pytest bench/bench_sdm.py --benchmark-enable

The C++ path computes every exact distance (float32, fixed summation order) and q in one
pass without sorting; faiss and the numpy reference compute float32 BLAS distances
(||q||^2 + ||x||^2 - 2 q.x), take the k = 2048 nearest, and q is counted from them, so a few
q may differ by rounding (the results column counts them). faiss's index is built once,
timed on its own row, and reused by every timed search. numpy's OpenBLAS runs its own kernel
for this CPU (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset when numpy loads); faiss's bundled
OpenBLAS 0.3.15 loads with the machine's settings, which it needs on this CPU (it would fall
back to an old kernel). The kernels in use are listed under the table (threadpoolctl).
"""

from __future__ import annotations

import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":
    from timing import use_native_openblas

    use_native_openblas()

import numpy as np
import pytest
from timing import (
    Report,
    compare,
    cpp_knn_clone,
    fmt_seconds,
    measure,
    parse_args,
    restore_openblas_env,
    threads,
)

import calipers
from calipers import SDMEstimator
from calipers._kernels import backend as _backend

PEERS = ("faiss-cpu", "threadpoolctl")
#: (support = calibration size, dims, classes, test queries, single-query rounds)
SIZES = {"tiny": (500, 32, 10, 200, 20), "quick": (5000, 128, 10, 2000, 200), "full": (20000, 256, 10, 10_000, 300)}
#: the support set of the one-request latency README quotes
LATENCY_SUPPORT = (20000, 256)
K = 2048


def make(n: int, dims: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings around class centres, logits that favour the true class, labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = np.random.default_rng(0).normal(size=(classes, dims)).astype(np.float32) * 0.6
    h = (rng.normal(size=(n, dims)).astype(np.float32) + centers[y]).astype(np.float32)
    z = 3.0 * np.eye(classes)[y] + rng.normal(size=(n, classes))
    return h, z, y


def numpy_reference_q(
    h: np.ndarray,
    pred: np.ndarray,
    support: np.ndarray,
    correct: np.ndarray,
    support_pred: np.ndarray,
    k: int,
    block: int = 500,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, d0 and the nearest index by a BLAS matrix product and a partial sort."""
    norms = np.einsum("ij,ij->i", support, support)
    q = np.empty(len(h), np.int64)
    d0 = np.empty(len(h))
    nearest = np.empty(len(h), np.int64)
    for b in range(0, len(h), block):
        Q = h[b : b + block]
        dist = np.einsum("ij,ij->i", Q, Q)[:, None] + norms[None, :] - 2.0 * (Q @ support.T)
        part = (
            np.argpartition(dist, k - 1, axis=1)[:, :k]
            if k < dist.shape[1]
            else np.tile(np.arange(dist.shape[1]), (len(Q), 1))
        )
        order = np.take_along_axis(part, np.argsort(np.take_along_axis(dist, part, 1), axis=1, kind="stable"), 1)
        match = (correct[order] != 0) & (support_pred[order] == pred[b : b + block, None])
        q[b : b + block] = np.cumprod(match, axis=1).sum(axis=1)
        d0[b : b + block] = np.maximum(np.take_along_axis(dist, order[:, :1], 1)[:, 0], 0)
        nearest[b : b + block] = order[:, 0]
    return q, d0, nearest


def faiss_q(
    index: object, h: np.ndarray, pred: np.ndarray, correct: np.ndarray, support_pred: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """q and the nearest index from a faiss search (what SDMEstimator(neighbours='faiss') does)."""
    _, idx = index.search(h, k)  # type: ignore[attr-defined]
    match = (correct[idx] != 0) & (support_pred[idx] == pred[:, None])
    return np.cumprod(match, axis=1).sum(axis=1), idx[:, 0]


def main(argv: list[str] | None = None) -> None:
    """Every row at the chosen sizes."""
    args = parse_args(__doc__ or "", argv)
    report = Report(__file__, args, PEERS)
    mode = report.mode
    n, dims, classes, n_test, one_rounds = SIZES[mode]
    cores = os.cpu_count() or 1
    restore_openblas_env()  # for faiss's older OpenBLAS, loaded next
    try:
        import faiss
    except ImportError:
        faiss = None
        report.note("faiss is not installed: its columns are skipped")
    k = min(K, n)
    train, cal, test = make(n, dims, classes, 1), make(n, dims, classes, 2), make(n_test, dims, classes, 3)
    correct = (train[2] == train[1].argmax(1)).astype(np.uint8)
    support_pred = train[1].argmax(1).astype(np.int64)
    pred_ca = cal[1].argmax(1)
    core = _backend.resolve("cpp")
    size = f"support {n:,} x {dims}, {n:,} calibration points, k={k}"

    def cpp() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return core.sdm_support_stats(cal[0], train[0], k, correct, support_pred, pred_ca)  # type: ignore[no-any-return]

    def ref() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return numpy_reference_q(cal[0], pred_ca, train[0], correct, support_pred, k)

    q_cpp, _, nn_cpp = cpp()
    q_np, _, nn_np = ref()
    agree_np = f"q equal {np.mean(q_cpp == q_np):.4%}, nearest equal {np.mean(nn_cpp == nn_np):.4%}"
    tables = report.table(
        "sdm-other",
        f"SDMEstimator, calipers only and faiss's index build ({size})",
        ["task", "threads", "best / median"],
    )
    index = None
    if faiss is not None:
        for nthreads in sorted({1, cores}):
            with threads(nthreads):
                build = measure(lambda: faiss.IndexFlatL2(dims).add(train[0]), mode)
            tables.add("faiss IndexFlatL2 build (add the support set)", nthreads, build.cell())
        index = faiss.IndexFlatL2(dims)
        index.add(train[0])
        q_f, nn_f = faiss_q(index, cal[0], pred_ca, correct, support_pred, k)
        agree_f = f"q equal {np.mean(q_cpp == q_f):.4%}, nearest equal {np.mean(nn_cpp == nn_f):.4%}"
    rounds = 3 if mode == "full" else None
    for nthreads in sorted({1, cores}):
        sides = {"cpp": cpp, "np": ref}
        if index is not None:
            sides["faiss"] = lambda: faiss_q(index, cal[0], pred_ca, correct, support_pred, k)
        with threads(nthreads):
            t = compare(sides, mode, rounds=rounds)
        task = f"neighbours + q of the calibration set ({size})"
        report.pair(
            task,
            (f"C++ sdm_support_stats ({cpp_knn_clone()})", t["cpp"]),
            ("numpy float32 BLAS + argpartition + argsort", t["np"]),
            threads=f"{nthreads} / {nthreads}",
            like_for_like=True,
            results=agree_np,
        )
        if index is not None:
            report.pair(
                task,
                (f"C++ sdm_support_stats ({cpp_knn_clone()})", t["cpp"]),
                ("faiss IndexFlatL2.search (index prebuilt) + q", t["faiss"]),
                threads=f"{nthreads} / {nthreads}",
                like_for_like=True,
                results=agree_f,
                headline=nthreads == cores,
            )
        if nthreads == cores:  # docs/sdm.md
            text = (
                f"{fmt_seconds(t['cpp'].median)} for the neighbours and q of {n:,} calibration points against a "
                f"{n:,} x {dims} support set (median of {t['cpp'].rounds} rounds, {nthreads} threads; numpy's BLAS "
                f"route {fmt_seconds(t['np'].median)}"
            )
            if index is not None:
                text += f", faiss's search of its prebuilt index {fmt_seconds(t['faiss'].median)}"
            report.quote("sdm_calibration_knn", text + ")")

    for nthreads in sorted({1, cores}):
        with threads(nthreads):
            fit = measure(lambda: SDMEstimator(alpha=0.9).fit(*train, *cal), mode, rounds=rounds)
        tables.add("whole fit, C++ (kNN, d, SDM, Alg. 1)", nthreads, fit.cell())
    est = SDMEstimator(alpha=0.9).fit(*train, *cal)
    out = est.predict(test[0], test[1])
    via_faiss = SDMEstimator(alpha=0.9, neighbours="faiss").fit(*train, *cal) if index is not None else None
    for nthreads in sorted({1, cores}):
        if via_faiss is None:
            break
        agree_hr = np.mean(via_faiss.predict(test[0], test[1]).is_high_reliability == out.is_high_reliability)
        with threads(nthreads):
            t = compare(
                {"c": lambda: est.predict(test[0], test[1]), "f": lambda: via_faiss.predict(test[0], test[1])},
                mode,
                rounds=rounds,
            )
        report.pair(
            f"predict {n_test:,} queries, whole pipeline ({size})",
            ("SDMEstimator (exact C++)", t["c"]),
            ("SDMEstimator(neighbours='faiss')", t["f"]),
            threads=f"{nthreads} / {nthreads}",
            like_for_like=True,
            results=f"high-reliability flags agree on {agree_hr:.4%}",
        )
    one_query(report, est, via_faiss, test, f"support {n:,} x {dims}", one_rounds)
    if (n, dims) != LATENCY_SUPPORT and mode != "tiny":
        # the one-request latency README quotes: a 20k x 256 support set (fit with 2000 calibration points)
        m, d = LATENCY_SUPPORT
        big = make(m, d, classes, 11)
        est_big = SDMEstimator(alpha=0.9).fit(*big, *make(2000, d, classes, 12))
        faiss_big = (
            SDMEstimator(alpha=0.9, neighbours="faiss").fit(*big, *make(2000, d, classes, 12))
            if index is not None
            else None
        )
        one_query(report, est_big, faiss_big, make(one_rounds, d, classes, 13), f"support {m:,} x {d}", one_rounds)
    hr = out.is_high_reliability
    accuracy = f"accuracy there {np.mean(out.prediction[hr] == test[2][hr]):.2%}" if hr.any() else "none admitted"
    report.note(
        f"HR region ({size}): q'_min = {est.q_prime_min:.3f}, {hr.mean():.2%} of {n_test:,} queries admitted, "
        + accuracy
    )
    report.finish()


def one_query(
    report: Report,
    est: SDMEstimator,
    via_faiss: SDMEstimator | None,
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    size: str,
    rounds: int,
) -> None:
    """One request at a time: each round is one query (the next one of ``test``); the same
    queries in the same order on every side."""
    cores = os.cpu_count() or 1
    support = est._support
    core = _backend.resolve("cpp")
    correct, spred = est._support_correct, est._support_pred

    def stepper(fn: object) -> object:
        counter = itertools.count()

        def call() -> object:
            i = next(counter) % len(test[0])
            return fn(test[0][i : i + 1], test[1][i : i + 1])  # type: ignore[operator]

        return call

    sides = {
        "predict": stepper(est.predict),
        "kernel": stepper(
            lambda h, z: core.sdm_support_stats(h, support, min(K, len(support)), correct, spred, z.argmax(1))
        ),
    }
    if via_faiss is not None:
        via_faiss.predict(test[0][:1], test[1][:1])  # builds its index outside the timings
        sides["faiss"] = stepper(via_faiss.predict)
    for nthreads in sorted({1, cores}):
        with threads(nthreads):
            t = compare(sides, report.mode, rounds=rounds)  # type: ignore[arg-type]
        if nthreads == cores and size.startswith(f"support {LATENCY_SUPPORT[0]:,} x {LATENCY_SUPPORT[1]}"):
            report.quote(
                "sdm_one_query",
                f"{fmt_seconds(t['predict'].median)} (median; {fmt_seconds(t['kernel'].median)} in the kernel)",
            )
        if "faiss" in t:
            report.pair(
                f"one query through predict ({size}, k={min(K, len(support))}), {rounds} queries",
                ("SDMEstimator (exact C++)", t["predict"]),
                ("SDMEstimator(neighbours='faiss')", t["faiss"]),
                threads=f"{nthreads} / {nthreads}",
                like_for_like=True,
                results=f"C++ kernel alone: {t['kernel'].cell()}",
            )


# ---------------------------------------------------------------- pytest-benchmark suite
@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    train, cal, test = make(5000, 128, 10, 1), make(5000, 128, 10, 2), make(1000, 128, 10, 3)
    return SDMEstimator().fit(*train, *cal), test


def test_predict_batch(benchmark, fitted):  # type: ignore[no-untyped-def]
    est, test = fitted
    out = benchmark(lambda: est.predict(test[0], test[1]))
    assert out.q.shape == (1000,)


def test_predict_one(benchmark, fitted):  # type: ignore[no-untyped-def]
    est, test = fitted
    out = benchmark(lambda: est.predict(test[0][:1], test[1][:1]))
    assert out.prediction.shape == (1,)


if __name__ == "__main__":
    calipers.show_config()
    main()
