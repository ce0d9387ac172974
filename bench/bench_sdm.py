"""SDMEstimator: fit on 20k support x 20k calibration x 256 dims, predict 10^4 queries, and
one-query latency; the neighbour search in C++ against a numpy matrix-product reference and
faiss IndexFlatL2 (when installed), on the same data and thread count, in one run.

    python bench/bench_sdm.py            # the issue's sizes
    python bench/bench_sdm.py --quick    # 5k x 5k x 128
    python -m pytest bench/bench_sdm.py --benchmark-enable

The C++ path computes every exact distance (float32, fixed summation order) and q in one
pass without sorting; faiss and the numpy reference return the k = 2048 nearest (BLAS
||q||^2 + ||x||^2 - 2 q.x, then a partial sort), from which q is the count of leading
matches. The numpy BLAS kernel in use is printed (threadpoolctl).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pytest

import calipers
from calipers import SDMEstimator


def make(n, dims, classes, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = np.random.default_rng(0).normal(size=(classes, dims)).astype(np.float32) * 0.6
    h = (rng.normal(size=(n, dims)).astype(np.float32) + centers[y]).astype(np.float32)
    z = 3.0 * np.eye(classes)[y] + rng.normal(size=(n, classes))
    return h, z, y


def numpy_reference_q(h, pred, support, correct, support_pred, k, block=500):
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, dims, classes = (5000, 128, 10) if args.quick else (20000, 256, 10)
    threads = os.cpu_count() or 1
    try:
        from threadpoolctl import threadpool_info

        blas = [
            (i["internal_api"], i.get("architecture"), i["num_threads"])
            for i in threadpool_info()
            if i["user_api"] == "blas"
        ]
        print(f"numpy BLAS: {blas}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')!r}")
    except ImportError:
        pass
    train, cal, test = make(n, dims, classes, 1), make(n, dims, classes, 2), make(10_000, dims, classes, 3)
    print(f"support {n} x {dims}, calibration {n}, {classes} classes, k = 2048, {threads} threads\n")
    print("| task | calipers C++ | numpy BLAS reference | faiss IndexFlatL2 | ratios |")
    print("|---|---|---|---|---|")

    t = time.perf_counter()
    est = SDMEstimator(alpha=0.9).fit(*train, *cal)
    fit_cpp = time.perf_counter() - t
    correct = (train[2] == train[1].argmax(1)).astype(np.uint8)
    support_pred = train[1].argmax(1).astype(np.int64)
    pred_ca = cal[1].argmax(1)

    t = time.perf_counter()
    q_np, _, nn_np = numpy_reference_q(cal[0], pred_ca, train[0], correct, support_pred, min(2048, n))
    knn_np = time.perf_counter() - t
    q_cpp, _, nn_cpp = calipers._kernels.backend.resolve("cpp").sdm_support_stats(
        cal[0], train[0], 2048, correct, support_pred, pred_ca
    )
    agree = f"q equal {np.mean(q_cpp == q_np):.4%}, nearest equal {np.mean(nn_cpp == nn_np):.4%}"
    faiss_s = "not installed"
    knn_faiss = None
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
        t = time.perf_counter()
        index = faiss.IndexFlatL2(dims)
        index.add(train[0])
        index.search(cal[0], min(2048, n))
        knn_faiss = time.perf_counter() - t
        faiss_s = f"{knn_faiss:.2f} s"
    except ImportError:
        pass
    t = time.perf_counter()
    calipers._kernels.backend.resolve("cpp").sdm_support_stats(cal[0], train[0], 2048, correct, support_pred, pred_ca)
    knn_cpp = time.perf_counter() - t
    ratio = f"numpy/cpp {knn_np / knn_cpp:.2f}x" + (f", faiss/cpp {knn_faiss / knn_cpp:.2f}x" if knn_faiss else "")
    print(
        f"| neighbours + q of {n} calibration points | {knn_cpp:.2f} s | {knn_np:.2f} s | {faiss_s} "
        f"| {ratio}; {agree} |"
    )
    print(f"| whole fit (kNN, d, SDM, Alg. 1) | {fit_cpp:.2f} s | | | |")

    t = time.perf_counter()
    out = est.predict(test[0], test[1])
    pred_cpp = time.perf_counter() - t
    faiss_pred = "not installed"
    if knn_faiss is not None:
        viafaiss = SDMEstimator(alpha=0.9, neighbours="faiss").fit(*train, *cal)
        t = time.perf_counter()
        out_f = viafaiss.predict(test[0], test[1])
        agree_hr = np.mean(out_f.is_high_reliability == out.is_high_reliability)
        faiss_pred = f"{time.perf_counter() - t:.2f} s (HR agree {agree_hr:.4%})"
    print(f"| predict 10^4 queries (whole pipeline) | {pred_cpp:.2f} s | | {faiss_pred} | |")

    one = []
    for i in range(300):
        t = time.perf_counter()
        est.predict(test[0][i : i + 1], test[1][i : i + 1])
        one.append(time.perf_counter() - t)
    kernel = []
    for i in range(300):
        t = time.perf_counter()
        calipers._kernels.backend.resolve("cpp").sdm_support_stats(
            test[0][i : i + 1], train[0], 2048, correct, support_pred, test[1][i : i + 1].argmax(1)
        )
        kernel.append(time.perf_counter() - t)
    faiss_one = "not installed"
    if knn_faiss is not None:
        ones = []
        for i in range(300):
            t = time.perf_counter()
            index.search(test[0][i : i + 1], min(2048, n))
            ones.append(time.perf_counter() - t)
        faiss_one = f"{statistics.median(ones) * 1e3:.2f} ms (search only)"
    print(
        f"| one query, median of 300 | {statistics.median(one) * 1e3:.2f} ms (predict), "
        f"{statistics.median(kernel) * 1e3:.2f} ms (kernel) | | {faiss_one} | |"
    )
    print(
        f"\nHR region: q'_min = {est.q_prime_min:.3f}, {out.is_high_reliability.mean():.2%} of queries admitted, "
        f"accuracy there {np.mean(out.prediction[out.is_high_reliability] == test[2][out.is_high_reliability]):.2%}"
    )


# ---------------------------------------------------------------- pytest-benchmark suite
@pytest.fixture(scope="module")
def fitted():
    train, cal, test = make(5000, 128, 10, 1), make(5000, 128, 10, 2), make(1000, 128, 10, 3)
    return SDMEstimator().fit(*train, *cal), test


def test_predict_batch(benchmark, fitted):
    est, test = fitted
    out = benchmark(lambda: est.predict(test[0], test[1]))
    assert out.q.shape == (1000,)


def test_predict_one(benchmark, fitted):
    est, test = fitted
    out = benchmark(lambda: est.predict(test[0][:1], test[1][:1]))
    assert out.prediction.shape == (1,)


if __name__ == "__main__":
    main()
