// Weighted logistic regression with an intercept on a few features (Platt: logit p;
// beta calibration: ln p and -ln(1 - p)), for a Newton solver. One pass returns the
// loss, gradient and Hessian at theta = (coefficients..., intercept).
#pragma once
#include <cmath>
#include <cstddef>

#include "parallel.hpp"

namespace calipers {

constexpr int kMaxLogisticDim = 4;  // up to 3 features + intercept

struct LogisticStats {
    double loss = 0.0;
    double grad[kMaxLogisticDim] = {0, 0, 0, 0};
    double hess[kMaxLogisticDim * kMaxLogisticDim] = {0};
};

// Rows [begin, end). X is (n, d) row-major; y holds targets in [0, 1] (0/1 labels, or
// Platt's smoothed targets); w sample weights (nullptr = 1). theta has d + 1 entries, the
// intercept last. One exp and one log1p per row.
inline LogisticStats logistic_stats_range(const double* X, const double* y, const double* w, std::size_t begin,
                                          std::size_t end, std::size_t d, const double* theta) {
    LogisticStats s;
    const std::size_t m = d + 1;
    for (std::size_t i = begin; i < end; ++i) {
        const double* x = X + i * d;
        double t = theta[d];
        for (std::size_t j = 0; j < d; ++j) t += theta[j] * x[j];
        const double wi = w ? w[i] : 1.0;
        // loss = softplus(t) - y t ; dloss/dt = sigmoid(t) - y ; d2 = sigmoid (1 - sigmoid)
        const double e = std::exp(-std::fabs(t));
        const double p = t >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        s.loss += wi * ((t > 0 ? t : 0.0) + std::log1p(e) - y[i] * t);
        const double r = wi * (p - y[i]);
        const double c = wi * p * (1.0 - p);
        for (std::size_t j = 0; j < m; ++j) {
            const double xj = j < d ? x[j] : 1.0;
            s.grad[j] += r * xj;
            for (std::size_t k = 0; k <= j; ++k) {
                const double xk = k < d ? x[k] : 1.0;
                s.hess[j * m + k] += c * xj * xk;
            }
        }
    }
    return s;
}

// All rows, reduced over fixed blocks on the available cores (deterministic), then the
// Hessian's upper triangle mirrored.
inline LogisticStats logistic_stats(const double* X, const double* y, const double* w, std::size_t n,
                                    std::size_t d, const double* theta) {
    const std::size_t m = d + 1;
    LogisticStats s = blocked_reduce<LogisticStats>(
        n, [&](std::size_t b, std::size_t e) { return logistic_stats_range(X, y, w, b, e, d, theta); },
        [m](LogisticStats& a, const LogisticStats& b) {
            a.loss += b.loss;
            for (std::size_t j = 0; j < m; ++j) a.grad[j] += b.grad[j];
            for (std::size_t j = 0; j < m * m; ++j) a.hess[j] += b.hess[j];
        });
    for (std::size_t j = 0; j < m; ++j)
        for (std::size_t k = 0; k < j; ++k) s.hess[k * m + j] = s.hess[j * m + k];
    return s;
}

}  // namespace calipers
