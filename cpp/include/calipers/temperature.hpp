// Temperature scaling: minimize the weighted mean NLL of softmax(beta * z) over beta = 1/T.
// NLL(beta) is convex in beta (log-sum-exp of a linear function), so a Newton step
// safeguarded by a bracket [lo, hi] on the sign of the derivative converges in a few
// passes; each pass computes the value, first and second derivative together.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "validate.hpp"

namespace calipers {

// What the temperature kernels rely on: K >= 1 columns, labels in [0, K) (they index the
// rows), finite logits and finite non-negative weights; std::invalid_argument otherwise.
template <class T, class L>
void check_temperature_input(const T* Z, const L* y, const double* w, std::size_t n, std::size_t K) {
    if (K < 1) throw std::invalid_argument("logits must have at least one column");
    if (!all_labels_below(y, n, static_cast<std::int64_t>(K))) {
        std::size_t bad = 0, first = n;
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = static_cast<std::int64_t>(y[i]);
            if (v < 0 || v >= static_cast<std::int64_t>(K)) {
                if (bad++ == 0) first = i;
            }
        }
        throw std::invalid_argument("labels must be integers in [0, " + std::to_string(K) + "): " + std::to_string(bad) +
                                    " value(s) are not, first at index " + std::to_string(first) + " (value " +
                                    std::to_string(static_cast<std::int64_t>(y[first])) + ")");
    }
    std::size_t bad = 0, first = 0;
    for (std::size_t j = 0; j < n * K; ++j)
        if (!std::isfinite(static_cast<double>(Z[j])) && bad++ == 0) first = j;
    if (bad)
        throw std::invalid_argument("logits must be finite: " + std::to_string(bad) + " value(s) are not, first at row " +
                                    std::to_string(first / K) + ", column " + std::to_string(first % K));
    if (!w) return;
    for (std::size_t i = 0; i < n; ++i)
        if (!(std::isfinite(w[i]) && w[i] >= 0.0) && bad++ == 0) first = i;
    if (bad)
        throw std::invalid_argument("sample_weight must be finite and >= 0: " + std::to_string(bad) +
                                    " value(s) are not, first at index " + std::to_string(first) + " (value " +
                                    format_double(w[first]) + ")");
}

struct TemperatureStats {
    double nll = 0.0, grad = 0.0, hess = 0.0, weight = 0.0;
};

// One pass over (n, K) logits. Per row, with q = softmax(beta z): the NLL is
// logsumexp(beta z) - beta z_y, its derivative E_q[z] - z_y and the second derivative
// Var_q[z] >= 0. Max-subtracted and accumulated in double.
// Rows [begin, end) with ``stride`` > 1 visiting begin, begin + stride, ... (the
// warm-start subsample).
template <class T, class L>
TemperatureStats temperature_stats_range(const T* Z, const L* y, const double* w, std::size_t begin,
                                         std::size_t end, std::size_t K, double beta, std::size_t stride) {
    TemperatureStats s;
    for (std::size_t i = begin; i < end; i += stride) {
        const T* row = Z + i * K;
        double zmax = static_cast<double>(row[0]);
        for (std::size_t k = 1; k < K; ++k) zmax = std::fmax(zmax, static_cast<double>(row[k]));
        double se = 0.0, sz = 0.0, szz = 0.0;
        for (std::size_t k = 0; k < K; ++k) {
            const double d = static_cast<double>(row[k]) - zmax;  // <= 0
            const double e = std::exp(beta * d);
            se += e;
            sz += e * d;
            szz += e * d * d;
        }
        const double mean = sz / se;
        const double wi = w ? w[i] : 1.0;
        const double zy = static_cast<double>(row[static_cast<std::size_t>(y[i])]) - zmax;
        s.nll += wi * (std::log(se) - beta * zy);
        s.grad += wi * (mean - zy);
        s.hess += wi * (szz / se - mean * mean);
        s.weight += wi;
    }
    return s;
}

// All rows, reduced over fixed blocks on the available cores (deterministic).
template <class T, class L>
TemperatureStats temperature_stats(const T* Z, const L* y, const double* w, std::size_t n, std::size_t K,
                                   double beta, std::size_t stride = 1) {
    if (stride > 1) return temperature_stats_range(Z, y, w, 0, n, K, beta, stride);
    return blocked_reduce<TemperatureStats>(
        n, [&](std::size_t b, std::size_t e) { return temperature_stats_range(Z, y, w, b, e, K, beta, 1); },
        [](TemperatureStats& a, const TemperatureStats& b) {
            a.nll += b.nll;
            a.grad += b.grad;
            a.hess += b.hess;
            a.weight += b.weight;
        });
}

struct TemperatureFit {
    double beta = 1.0;
    int iterations = 0;
    bool converged = false;
};

// Safeguarded Newton on beta in [kBetaMin, kBetaMax]. The derivative is increasing
// (convexity): keep a bracket where it changes sign, take the Newton step when it stays
// inside the bracket, else bisect (geometrically while the bracket is open). Stops when
// the Newton step is below tol * beta; that step is still taken, so with quadratic
// convergence the result is exact to about (tol)^2 relative, below float64 noise. Labels
// independent of the logits put the optimum at beta = 0 (T = infinity): the search stops at kBetaMin (T = 1e6).
constexpr double kBetaMin = 1e-6;
constexpr double kBetaMax = 1e6;

template <class Stats>
TemperatureFit fit_temperature(Stats&& stats, double beta = 1.0, double tol = 1e-9, int max_iter = 200) {
    double lo = 0.0, hi = std::numeric_limits<double>::infinity();
    TemperatureFit fit;
    for (int it = 1; it <= max_iter; ++it) {
        const TemperatureStats s = stats(beta);
        fit.iterations = it;
        const double g = s.grad / s.weight, h = s.hess / s.weight;
        if (g == 0.0) { fit.converged = true; break; }
        if (g > 0) hi = beta; else lo = beta;
        if ((g > 0 && beta <= kBetaMin) || (g < 0 && beta >= kBetaMax)) break;  // optimum on a bound
        double next = (h > 0) ? beta - g / h : std::numeric_limits<double>::quiet_NaN();
        if (h > 0 && std::fabs(g / h) <= tol * beta) {  // converged: the Newton step is below tol
            beta = next;
            fit.converged = true;
            break;
        }
        if (!(next > lo && next < hi)) {
            if (std::isinf(hi)) next = beta * 4.0;
            else if (lo == 0.0) next = beta / 4.0;
            else next = 0.5 * (lo + hi);
        }
        next = std::fmin(std::fmax(next, kBetaMin), kBetaMax);
        const double step = std::fabs(next - beta);
        beta = next;
        if (step <= tol * beta) { fit.converged = true; break; }
    }
    fit.beta = beta;
    return fit;
}

// Large inputs: converge on every 16th row first (to 1e-6), then finish on all rows from
// there; Newton's quadratic convergence then needs two or three full passes.
constexpr std::size_t kWarmStride = 16;
constexpr std::size_t kWarmMinRows = std::size_t(1) << 16;

template <class StridedStats>
TemperatureFit fit_temperature_warm(StridedStats&& stats, std::size_t n) {
    double beta = 1.0;
    int warm_iterations = 0;
    if (n >= kWarmMinRows) {
        const TemperatureFit warm = fit_temperature([&](double b) { return stats(b, kWarmStride); }, 1.0, 1e-6);
        beta = warm.beta;
        warm_iterations = warm.iterations;
    }
    TemperatureFit fit = fit_temperature([&](double b) { return stats(b, std::size_t(1)); }, beta);
    fit.iterations += warm_iterations;
    return fit;
}

}  // namespace calipers
