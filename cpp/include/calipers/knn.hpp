// Exact k nearest neighbours on squared L2 distance.
//
// Distances are sum_d (q_d - x_d)^2 accumulated in double in dimension order, so the
// numpy and Numba mirrors compute the same bits and every backend returns the same
// neighbours. Ties in distance go to the smaller pool index, everywhere. The pool is
// walked in blocks transposed to (dimension, point) so the inner loop runs over points
// (independent accumulators that vectorize without reassociating any sum); each query
// keeps its best k in a max-heap ordered by (distance, index). Queries are spread over
// threads; the result does not depend on their number.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "calipers/parallel.hpp"

namespace calipers {

constexpr std::size_t kKnnQueryBlock = 32;

// Pool points per block: the transposed block (d x block doubles) stays near 128 KiB.
inline std::size_t knn_pool_block(std::size_t d) {
    return std::max<std::size_t>(32, std::min<std::size_t>(512, 16384 / std::max<std::size_t>(d, 1)));
}

struct Neighbour {
    double dist;
    std::int64_t index;
    bool operator<(const Neighbour& o) const { return dist < o.dist || (dist == o.dist && index < o.index); }
};

// For query i, pool entry `exclude[i]` (if >= 0) is skipped: the query's own row when the
// pool is the query set. k is at most the number of candidates (the caller clamps it).
template <class T>
void knn_sqeuclidean(const T* Q, std::size_t nq, const T* X, std::size_t nx, std::size_t d, std::size_t k,
                     const std::int64_t* exclude, std::int64_t* out_index, double* out_dist,
                     unsigned threads = 0) {
    if (nq == 0 || k == 0) return;
    const std::size_t qblocks = (nq + kKnnQueryBlock - 1) / kKnnQueryBlock;
    auto work = [&](unsigned t, unsigned nthreads) {
        const std::size_t block = knn_pool_block(d);
        std::vector<double> xt(d * block);  // transposed pool block
        std::vector<double> acc(kKnnQueryBlock * block);
        std::vector<std::vector<Neighbour>> heaps(kKnnQueryBlock);
        for (std::size_t qb = t; qb < qblocks; qb += nthreads) {
            const std::size_t q0 = qb * kKnnQueryBlock, q1 = std::min(nq, q0 + kKnnQueryBlock);
            for (auto& h : heaps) h.clear();
            for (std::size_t x0 = 0; x0 < nx; x0 += block) {
                const std::size_t x1 = std::min(nx, x0 + block), bw = x1 - x0;
                for (std::size_t j = 0; j < bw; ++j)
                    for (std::size_t c = 0; c < d; ++c) xt[c * bw + j] = static_cast<double>(X[(x0 + j) * d + c]);
                for (std::size_t qi = q0; qi < q1; ++qi) {
                    double* a = acc.data() + (qi - q0) * block;
                    std::fill(a, a + bw, 0.0);
                    const T* q = Q + qi * d;
                    for (std::size_t c = 0; c < d; ++c) {
                        const double qc = static_cast<double>(q[c]);
                        const double* col = xt.data() + c * bw;
                        for (std::size_t j = 0; j < bw; ++j) {
                            const double diff = qc - col[j];
                            a[j] += diff * diff;
                        }
                    }
                    auto& heap = heaps[qi - q0];
                    const std::int64_t skip = exclude ? exclude[qi] : -1;
                    for (std::size_t j = 0; j < bw; ++j) {
                        const Neighbour cand{a[j], static_cast<std::int64_t>(x0 + j)};
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
                }
            }
            for (std::size_t qi = q0; qi < q1; ++qi) {
                auto& heap = heaps[qi - q0];
                std::sort_heap(heap.begin(), heap.end());
                for (std::size_t r = 0; r < k; ++r) {
                    out_index[qi * k + r] = r < heap.size() ? heap[r].index : -1;
                    out_dist[qi * k + r] = r < heap.size() ? heap[r].dist : 0.0;
                }
            }
        }
    };
    unsigned nthreads = threads ? threads : worker_count(qblocks);
    nthreads = std::max(1u, std::min<unsigned>(nthreads, static_cast<unsigned>(qblocks)));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < nthreads; ++t) pool.emplace_back(work, t, nthreads);
    work(0, nthreads);
    for (auto& th : pool) th.join();
}

}  // namespace calipers
