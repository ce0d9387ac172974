// Deterministic parallel reductions on the process-wide pool (thread_pool.hpp): the rows
// are cut into fixed blocks, any thread may reduce any block, and the block results are
// combined in block order, so the result does not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "calipers/thread_pool.hpp"

namespace calipers {

constexpr std::size_t kParallelBlock = 16384;

// reduce(begin, end) -> R for a row range; combine(R&, const R&) adds block results in order.
template <class R, class Reduce, class Combine>
R blocked_reduce(std::size_t n, Reduce&& reduce, Combine&& combine) {
    const std::size_t blocks = (n + kParallelBlock - 1) / kParallelBlock;
    if (blocks <= 1) return reduce(std::size_t(0), n);
    std::vector<R> parts(blocks);
    parallel_for(blocks, [&](std::size_t b) { parts[b] = reduce(b * kParallelBlock, std::min(n, (b + 1) * kParallelBlock)); });
    R total = parts[0];
    for (std::size_t b = 1; b < blocks; ++b) combine(total, parts[b]);
    return total;
}

}  // namespace calipers
