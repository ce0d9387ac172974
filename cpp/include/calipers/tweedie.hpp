// Gaussian kernel density scores for Tweedie's correction (specs/debiased.md section 2.2).
//
// With support points x_i (sorted ascending), weights w_i and bandwidth h, the density is
// D(x) = sum_i w_i exp(-(x - x_i)^2 / (2 h^2)) up to a constant and the score is
// s(x) = d/dx log D(x) = sum_i w_i K_i (x_i - x) / (h^2 sum_i w_i K_i).
//
// kde_score: the exact values, shifted by the nearest point's exponent (log-sum-exp), so
//   no query underflows. Terms whose exponent lies more than kKdeCutoff below the largest
//   are skipped (each is below exp(-60) = 8.8e-27 of the largest term); the skipped mass is
//   below n * 8.8e-27 of D, far under float64 rounding for any n below 1e10.
// linear_binning: each point's weight split between its two grid nodes in proportion to
//   its distance (the zeroth and first moments are kept), for the fast path's FFT.
// grid_score: cubic Hermite interpolation of a grid function from its values and slopes;
//   with fd_delta > 0 the central difference (H(x + d) - H(x - d)) / (2 d) of the
//   interpolant instead. NaN where the stencil leaves the grid or touches a NaN node.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.hpp"

namespace calipers {

constexpr double kKdeCutoff = 60.0;

struct KdeValue {
    double log_sum = 0.0;  // log sum_i w_i exp(-(x - x_i)^2 / (2 h^2))
    double score = 0.0;
};

// One query against sorted points (w may be null: unit weights).
// Every exponent is taken relative to the nearest point x_k, with d_k = x_k - q and
// a_i = x_i - x_k: d_i^2 - d_k^2 = a_i (a_i + 2 d_k), and the score is
// d_k / h^2 + sum_i e_i a_i / (h^2 sum_i e_i). Both are products and sums of offsets between
// points and one offset to the query, so nothing cancels when the query lies far from the
// data (the score then tends to d_k / h^2 and stays finite), and the nearest point is always
// in the window, so the sum is never empty.
inline KdeValue kde_one(const double* x, const double* w, std::size_t n, double h, double q) {
    const double two_h2 = 2.0 * h * h;
    // nearest point: the largest exponent (ties go to the right-hand point)
    const std::size_t pos = static_cast<std::size_t>(std::lower_bound(x, x + n, q) - x);
    std::size_t near = pos;
    if (pos == n || (pos > 0 && q - x[pos - 1] < x[pos] - q)) near = pos - 1;
    const double dk = x[near] - q;
    const double dmin = std::fabs(dk);
    // window of points whose exponent is within kKdeCutoff of the largest
    const double reach = std::sqrt(dmin * dmin + kKdeCutoff * two_h2);
    const std::size_t lo =
        std::min(near, static_cast<std::size_t>(std::lower_bound(x, x + n, q - reach) - x));
    const std::size_t hi =
        std::max(near + 1, static_cast<std::size_t>(std::upper_bound(x, x + n, q + reach) - x));
    const double shift = dmin * dmin / two_h2;
    double den = 0.0, num = 0.0;
    for (std::size_t i = lo; i < hi; ++i) {
        const double a = x[i] - x[near];
        const double e = std::exp(-(a * (a + 2.0 * dk)) / two_h2) * (w ? w[i] : 1.0);
        den += e;
        num += e * a;
    }
    KdeValue v;
    v.log_sum = std::log(den) - shift;
    v.score = dk / (h * h) + num / (den * h * h);
    return v;
}

inline void check_sorted_points(const double* x, const double* w, std::size_t n, double h) {
    if (n == 0) throw std::invalid_argument("kde_score needs at least one support point");
    // h * h must be a normal float64: 1e-170 squared underflows to 0 (a division by zero)
    if (!(h >= 1e-150 && h <= 1e150))
        throw std::invalid_argument("kde_score: bandwidth must lie in [1e-150, 1e150] (its square a normal float64)");
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i]))
            throw std::invalid_argument("kde_score: support points must be finite (first bad index " +
                                        std::to_string(i) + ")");
        if (i > 0 && x[i] < x[i - 1])
            throw std::invalid_argument("kde_score: support points must be sorted ascending (first bad index " +
                                        std::to_string(i) + ")");
        if (w && !(w[i] > 0.0 && std::isfinite(w[i])))
            throw std::invalid_argument("kde_score: weights must be positive and finite (first bad index " +
                                        std::to_string(i) + ")");
    }
}

// Every query (rows in parallel blocks; each output depends on its query only).
inline void kde_score(const double* x, const double* w, std::size_t n, double h, const double* q, std::size_t m,
                      double* log_sum, double* score) {
    check_sorted_points(x, w, n, h);
    for (std::size_t j = 0; j < m; ++j)
        if (!std::isfinite(q[j]))
            throw std::invalid_argument("kde_score: queries must be finite (first bad index " + std::to_string(j) +
                                        ")");
    struct Nothing {};
    // a block of 16384 queries is 16384 * n kernel terms: split finer when n is large
    blocked_reduce<Nothing>(
        m,
        [&](std::size_t b, std::size_t e) {
            for (std::size_t j = b; j < e; ++j) {
                const KdeValue v = kde_one(x, w, n, h, q[j]);
                log_sum[j] = v.log_sum;
                score[j] = v.score;
            }
            return Nothing{};
        },
        [](Nothing&, const Nothing&) {});
}

// Linear binning onto nodes lo + k * step, k = 0 .. cells - 1 (out is zeroed first).
inline void linear_binning(const double* x, const double* w, std::size_t n, double lo, double step,
                           std::size_t cells, double* out) {
    if (cells < 2) throw std::invalid_argument("linear_binning needs at least 2 cells");
    if (!(step > 0.0) || !std::isfinite(step) || !std::isfinite(lo))
        throw std::invalid_argument("linear_binning: step must be positive and finite");
    std::fill(out, out + cells, 0.0);
    const double last = static_cast<double>(cells - 1);
    for (std::size_t i = 0; i < n; ++i) {
        const double t = (x[i] - lo) / step;
        if (!(t >= 0.0 && t <= last))
            throw std::invalid_argument("linear_binning: point " + std::to_string(i) + " lies outside the grid");
        std::size_t k = static_cast<std::size_t>(t);
        if (k >= cells - 1) k = cells - 2;
        const double f = t - static_cast<double>(k);
        const double wi = w ? w[i] : 1.0;
        out[k] += wi * (1.0 - f);
        out[k + 1] += wi * f;
    }
}

// Cubic Hermite interpolant of (values, slopes) on nodes lo + k * step at t; NaN off-grid.
inline double hermite_at(double x, double lo, double step, const double* v, const double* s, std::size_t cells) {
    const double t = (x - lo) / step;
    if (!(t >= 0.0 && t <= static_cast<double>(cells - 1))) return std::numeric_limits<double>::quiet_NaN();
    std::size_t k = static_cast<std::size_t>(t);
    if (k >= cells - 1) k = cells - 2;
    const double a = t - static_cast<double>(k);
    const double b = 1.0 - a;
    const double h00 = (1.0 + 2.0 * a) * b * b, h10 = a * b * b, h01 = a * a * (3.0 - 2.0 * a), h11 = -a * a * b;
    return h00 * v[k] + h10 * step * s[k] + h01 * v[k + 1] + h11 * step * s[k + 1];
}

inline void grid_score(const double* q, std::size_t m, double lo, double step, const double* values,
                       const double* slopes, std::size_t cells, double fd_delta, double* out) {
    if (cells < 2) throw std::invalid_argument("grid_score needs at least 2 grid nodes");
    if (!(step > 0.0) || !std::isfinite(step) || !std::isfinite(lo))
        throw std::invalid_argument("grid_score: step must be positive and finite");
    if (!(fd_delta >= 0.0) || !std::isfinite(fd_delta))
        throw std::invalid_argument("grid_score: fd_delta must be >= 0 and finite");
    struct Nothing {};
    blocked_reduce<Nothing>(
        m,
        [&](std::size_t b, std::size_t e) {
            if (fd_delta == 0.0) {
                for (std::size_t j = b; j < e; ++j) out[j] = hermite_at(q[j], lo, step, values, slopes, cells);
            } else {
                for (std::size_t j = b; j < e; ++j)
                    out[j] = (hermite_at(q[j] + fd_delta, lo, step, values, slopes, cells) -
                              hermite_at(q[j] - fd_delta, lo, step, values, slopes, cells)) /
                             (2.0 * fd_delta);
            }
            return Nothing{};
        },
        [](Nothing&, const Nothing&) {});
}

}  // namespace calipers
