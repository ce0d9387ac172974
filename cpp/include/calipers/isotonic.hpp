// Pool-adjacent-violators for a non-decreasing fit, O(n) on values already sorted by x
// with duplicate x merged (weighted means), as scikit-learn's IsotonicRegression does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace calipers {

// In place: y[i] becomes the fitted value of point i. w > 0.
inline void isotonic_pav(double* y, const double* w, std::size_t n) {
    if (n == 0) return;
    std::vector<double> block_y, block_w;
    std::vector<std::size_t> block_end;  // one past the last point of each block
    block_y.reserve(n);
    block_w.reserve(n);
    block_end.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        double by = y[i], bw = w[i];
        std::size_t end = i + 1;
        while (!block_y.empty() && block_y.back() >= by) {  // violation (or tie): pool
            const double pw = block_w.back();
            by = (block_y.back() * pw + by * bw) / (pw + bw);
            bw += pw;
            block_y.pop_back();
            block_w.pop_back();
            block_end.pop_back();
        }
        block_y.push_back(by);
        block_w.push_back(bw);
        block_end.push_back(end);
    }
    std::size_t start = 0;
    for (std::size_t b = 0; b < block_y.size(); ++b) {
        for (std::size_t i = start; i < block_end[b]; ++i) y[i] = block_y[b];
        start = block_end[b];
    }
}

// Sorted x (ascending): merge each run of x within `resolution` of the run's first value
// into one point (that first x, the weighted mean of y, the summed weight), exactly as
// scikit-learn's _make_unique (resolution = 1e-15 for float64). Returns the number of
// points; the outputs must hold n entries.
inline std::size_t merge_ties(const double* x, const double* y, const double* w, std::size_t n,
                              double resolution, double* ux, double* uy, double* uw) {
    if (n == 0) return 0;
    std::size_t m = 0;
    double cx = x[0], cw = 0.0, cy = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
        if (x[j] - cx >= resolution) {
            ux[m] = cx;
            uw[m] = cw;
            uy[m] = cy / cw;
            ++m;
            cx = x[j];
            cw = w[j];
            cy = y[j] * w[j];
        } else {
            cw += w[j];
            cy += y[j] * w[j];
        }
    }
    ux[m] = cx;
    uw[m] = cw;
    uy[m] = cy / cw;
    return m + 1;
}

}  // namespace calipers
