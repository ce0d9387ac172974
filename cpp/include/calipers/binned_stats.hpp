// Per-bin (count, sum of scores, positives) for arbitrary edges: the equal-mass
// and compat= paths. Sums are plain doubles in input order, like np.bincount.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace calipers {

// Bin of x = number of cuts < x (right_closed, searchsorted side='left') or
// <= x (side='right'), clamped to nbins - 1 (uncertainty-calibration merges
// values above the last edge into the last bin).
template <class T, class L>
void binned_stats_edges(const T* x, const L* y, std::size_t n, const double* cuts, std::size_t ncuts,
                        bool right_closed, std::int64_t nbins, std::int64_t* count, double* sum_x,
                        double* sum_y) {
    const double* end = cuts + ncuts;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(x[i]);
        const double* it = right_closed ? std::lower_bound(cuts, end, v) : std::upper_bound(cuts, end, v);
        auto b = static_cast<std::int64_t>(it - cuts);
        if (b > nbins - 1) b = nbins - 1;
        count[b] += 1;
        sum_x[b] += v;
        sum_y[b] += static_cast<double>(y[i]);
    }
}

// Top-label reduction: conf_i = max_k P_ik, correct_i = (first argmax == label).
template <class T, class L>
void top_label(const T* P, const L* y, std::size_t n, std::size_t K, double* conf, std::int8_t* correct) {
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = P + i * K;
        std::size_t arg = 0;
        for (std::size_t k = 1; k < K; ++k)
            if (row[k] > row[arg]) arg = k;
        conf[i] = static_cast<double>(row[arg]);
        correct[i] = static_cast<std::int64_t>(y[i]) == static_cast<std::int64_t>(arg) ? 1 : 0;
    }
}

}  // namespace calipers
