// Deterministic parallel reductions: the rows are cut into fixed blocks, any thread may
// reduce any block, and the block results are combined in block order, so the result
// does not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace calipers {

constexpr std::size_t kParallelBlock = 16384;

inline unsigned worker_count(std::size_t blocks) {
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::min<std::size_t>({static_cast<std::size_t>(hw), blocks, std::size_t(8)}));
}

// reduce(begin, end) -> R for a row range; combine(R&, const R&) adds block results in order.
template <class R, class Reduce, class Combine>
R blocked_reduce(std::size_t n, Reduce&& reduce, Combine&& combine) {
    const std::size_t blocks = (n + kParallelBlock - 1) / kParallelBlock;
    if (blocks <= 1) return reduce(std::size_t(0), n);
    std::vector<R> parts(blocks);
    auto work = [&](unsigned t, unsigned threads) {
        for (std::size_t b = t; b < blocks; b += threads)
            parts[b] = reduce(b * kParallelBlock, std::min(n, (b + 1) * kParallelBlock));
    };
    const unsigned threads = worker_count(blocks);
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t, threads);
    work(0, threads);
    for (auto& th : pool) th.join();
    R total = parts[0];
    for (std::size_t b = 1; b < blocks; ++b) combine(total, parts[b]);
    return total;
}

}  // namespace calipers
