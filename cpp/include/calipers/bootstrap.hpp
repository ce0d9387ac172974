// Per-(equal-width bin, outcome) unit statistics for the binned bootstrap: count, sum and
// sum of squares of the scores. A resample only redraws how many samples each unit gives
// and the sum of their scores, so one O(n) pass serves every resample.
#pragma once
#include <cstddef>
#include <cstdint>

#include <stdexcept>

#include "calipers/binning.hpp"
#include "calipers/validate.hpp"

namespace calipers {

// Unit of sample i = 2 * bin + y; the arrays hold 2 * bins entries. Scores must lie in
// [0, 1] and labels in {0, 1} (checked: std::invalid_argument otherwise).
template <class T, class L>
void unit_stats(const T* x, const L* y, std::size_t n, std::int64_t bins, std::int64_t* count, double* sum,
                double* sumsq) {
    if (bins < 1 || bins > kMaxBins) throw std::invalid_argument("bins must lie in [1, 1000000]");
    require_valid_binary(x, y, n);
    const EqualWidth width(bins);
    for (std::size_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(x[i]);
        const auto u = static_cast<std::size_t>(2 * width.index(v) + (y[i] != 0 ? 1 : 0));
        count[u] += 1;
        sum[u] += v;
        sumsq[u] += v * v;
    }
}

}  // namespace calipers
