// Exact nearest-neighbour kernels on squared L2 distance.
//
// A distance is sum_d (q_d - x_d)^2 accumulated in the input's precision (float32 input:
// float, as faiss works; float64: double) in a fixed order (lane_sqdist), so the numpy and
// Numba mirrors compute the same bits and every backend agrees on every neighbour. Ties in
// distance go to the smaller pool index, everywhere. Query blocks are spread over the
// process-wide pool (thread_pool.hpp); results do not depend on the number of threads.
//
// Two consumers share the distance blocks:
//  * knn_sqeuclidean: the k nearest per query (a max-heap ordered by (distance, index));
//  * sdm_support_stats: the SDM similarity q without sorting (see the function).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "calipers/thread_pool.hpp"
#include "calipers/vecmath.hpp"

namespace calipers {

constexpr std::size_t kKnnQueryBlock = 16;
constexpr std::size_t kSupportSlice = 8192;  // fewest support rows per task when one request is split

struct Neighbour {
    double dist;
    std::int64_t index;
    bool operator<(const Neighbour& o) const { return dist < o.dist || (dist == o.dist && index < o.index); }
};

// Squared L2 distance with a fixed summation order: dimension c goes to lane c mod 8,
// lanes accumulate in dimension order, and the 8 lanes combine as
// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). The lanes are SIMD lanes (AVX2 when
// the CPU has it, SSE2 otherwise: the same bits, since nothing is fused or reordered).

template <class T>
inline T lane_sqdist(const T* q, const T* x, std::size_t d) {
    T p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t c = 0;
    for (; c + 8 <= d; c += 8)
        for (std::size_t l = 0; l < 8; ++l) {
            const T diff = q[c + l] - x[c + l];
            p[l] += diff * diff;
        }
    for (std::size_t l = 0; c < d; ++c, ++l) {
        const T diff = q[c] - x[c];
        p[l] += diff * diff;
    }
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

CALIPERS_SIMD_CLONES inline void sqdist_rows(const float* q, const float* X, std::size_t n, std::size_t d,
                                             float* out) {
    for (std::size_t j = 0; j < n; ++j) out[j] = lane_sqdist(q, X + j * d, d);
}

CALIPERS_SIMD_CLONES inline void sqdist_rows(const double* q, const double* X, std::size_t n, std::size_t d,
                                             double* out) {
    for (std::size_t j = 0; j < n; ++j) out[j] = lane_sqdist(q, X + j * d, d);
}

constexpr std::size_t kKnnPoolBlock = 4096;

// Calls visit(query_row, pool_start, distances, count) for every (query, pool block) pair
// of the queries in [q0, q1); pool blocks are walked outermost so they stay in cache.
template <class T, class Visit>
void distance_blocks(const T* Q, std::size_t q0, std::size_t q1, const T* X, std::size_t nx, std::size_t d,
                     std::vector<T>& acc, Visit&& visit) {
    acc.resize(kKnnPoolBlock);
    for (std::size_t x0 = 0; x0 < nx; x0 += kKnnPoolBlock) {
        const std::size_t bw = std::min(nx, x0 + kKnnPoolBlock) - x0;
        for (std::size_t qi = q0; qi < q1; ++qi) {
            sqdist_rows(Q + qi * d, X + x0 * d, bw, d, acc.data());
            visit(qi, x0, acc.data(), bw);
        }
    }
}

// Runs body(q0, q1, scratch) over blocks of kKnnQueryBlock queries on the pool.
template <class T, class Body>
void over_query_blocks(std::size_t nq, Body&& body) {
    const std::size_t qblocks = (nq + kKnnQueryBlock - 1) / kKnnQueryBlock;
    parallel_for(qblocks, [&](std::size_t qb) {
        std::vector<T> acc;
        body(qb * kKnnQueryBlock, std::min(nq, (qb + 1) * kKnnQueryBlock), acc);
    });
}

// For query i, pool entry `exclude[i]` (if >= 0) is skipped: the query's own row when the
// pool is the query set. k is at most the number of candidates (the caller clamps it).
template <class T>
void knn_sqeuclidean(const T* Q, std::size_t nq, const T* X, std::size_t nx, std::size_t d, std::size_t k,
                     const std::int64_t* exclude, std::int64_t* out_index, double* out_dist) {
    if (k == 0) return;
    over_query_blocks<T>(nq, [&](std::size_t q0, std::size_t q1, std::vector<T>& acc) {
        std::vector<std::vector<Neighbour>> heaps(q1 - q0);
        distance_blocks(Q, q0, q1, X, nx, d, acc, [&](std::size_t qi, std::size_t x0, const T* a, std::size_t bw) {
            auto& heap = heaps[qi - q0];
            const std::int64_t skip = exclude ? exclude[qi] : -1;
            for (std::size_t j = 0; j < bw; ++j) {
                const Neighbour cand{static_cast<double>(a[j]), static_cast<std::int64_t>(x0 + j)};
                if (cand.index == skip) continue;
                if (heap.size() < k) {
                    heap.push_back(cand);
                    std::push_heap(heap.begin(), heap.end());
                } else if (cand < heap.front()) {
                    std::pop_heap(heap.begin(), heap.end());
                    heap.back() = cand;
                    std::push_heap(heap.begin(), heap.end());
                }
            }
        });
        for (std::size_t qi = q0; qi < q1; ++qi) {
            auto& heap = heaps[qi - q0];
            std::sort_heap(heap.begin(), heap.end());
            for (std::size_t r = 0; r < k; ++r) {
                out_index[qi * k + r] = r < heap.size() ? heap[r].index : -1;
                out_dist[qi * k + r] = r < heap.size() ? heap[r].dist : 0.0;
            }
        }
    });
}

// SDM similarity without sorting. Support point j "matches" a query predicting p when
// correct[j] (its label equals its model's prediction) and pred[j] == p. In ascending
// (distance, index) order, q counts the matches before the first non-match, capped at k:
// so q = min(k, #matches ordered before the nearest non-match), found in one pass over
// the distances. Also returns d0 (the nearest distance) and its index.
template <class T>
void sdm_support_stats(const T* Q, std::size_t nq, const T* X, std::size_t nx, std::size_t d, std::int64_t k,
                       const std::uint8_t* correct, const std::int64_t* pred, const std::int64_t* query_pred,
                       std::int64_t* out_q, double* out_d0, std::int64_t* out_nearest) {
    over_query_blocks<T>(nq, [&](std::size_t q0, std::size_t q1, std::vector<T>& acc) {
        const std::size_t m = q1 - q0;
        std::vector<T> dist(m * nx);
        const std::size_t slices = std::min<std::size_t>(num_threads(), nx / kSupportSlice);
        if (nq <= 2 && slices > 1) {  // one or two queries (a request): split the support over the pool
            parallel_for(slices, [&](std::size_t t) {
                const std::size_t a = nx * t / slices, b = nx * (t + 1) / slices;
                for (std::size_t qi = q0; qi < q1; ++qi)
                    sqdist_rows(Q + qi * d, X + a * d, b - a, d, dist.data() + (qi - q0) * nx + a);
            });
        } else {
            distance_blocks(Q, q0, q1, X, nx, d, acc, [&](std::size_t qi, std::size_t x0, const T* a, std::size_t bw) {
                std::copy(a, a + bw, dist.begin() + static_cast<std::ptrdiff_t>((qi - q0) * nx + x0));
            });
        }
        for (std::size_t qi = q0; qi < q1; ++qi) {
            const T* dq = dist.data() + (qi - q0) * nx;
            const std::int64_t p = query_pred[qi];
            // nearest point overall, and nearest non-match (the blocker)
            std::size_t nearest = 0, blocker = nx;
            for (std::size_t j = 0; j < nx; ++j) {
                if (dq[j] < dq[nearest]) nearest = j;
                const bool match = correct[j] && pred[j] == p;
                if (!match && (blocker == nx || dq[j] < dq[blocker])) blocker = j;
            }
            std::int64_t q = 0;
            for (std::size_t j = 0; j < nx; ++j) {
                const bool match = correct[j] && pred[j] == p;
                if (match && (blocker == nx || dq[j] < dq[blocker] || (dq[j] == dq[blocker] && j < blocker))) ++q;
            }
            out_q[qi] = std::min(q, k);
            out_d0[qi] = nx ? static_cast<double>(dq[nearest]) : 0.0;
            out_nearest[qi] = nx ? static_cast<std::int64_t>(nearest) : -1;
        }
    });
}

}  // namespace calipers
