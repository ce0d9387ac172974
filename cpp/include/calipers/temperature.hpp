// Temperature scaling: minimize the weighted mean NLL of softmax(beta * z) over beta = 1/T.
// NLL(beta) is convex in beta (log-sum-exp of a linear function), so a Newton step
// safeguarded by a bracket [lo, hi] on the sign of the derivative converges in a few
// passes; each pass computes the value, first and second derivative together.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace calipers {

struct TemperatureStats {
    double nll = 0.0, grad = 0.0, hess = 0.0, weight = 0.0;
};

// One pass over (n, K) logits. Per row, with q = softmax(beta z): the NLL is
// logsumexp(beta z) - beta z_y, its derivative E_q[z] - z_y and the second derivative
// Var_q[z] >= 0. Max-subtracted and accumulated in double.
template <class T, class L>
TemperatureStats temperature_stats(const T* Z, const L* y, const double* w, std::size_t n, std::size_t K,
                                   double beta) {
    TemperatureStats s;
    for (std::size_t i = 0; i < n; ++i) {
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

struct TemperatureFit {
    double beta = 1.0;
    int iterations = 0;
    bool converged = false;
};

// Safeguarded Newton on beta in (0, beta_max]. The derivative is increasing (convexity):
// keep a bracket where it changes sign, take the Newton step when it stays inside the
// bracket, else bisect. Stops when the step is below tol * beta.
template <class Stats>
TemperatureFit fit_temperature(Stats&& stats, double tol = 1e-12, int max_iter = 100) {
    double lo = 0.0, hi = std::numeric_limits<double>::infinity();
    constexpr double kBetaMax = 1e6;
    TemperatureFit fit;
    double beta = 1.0;
    for (int it = 1; it <= max_iter; ++it) {
        const TemperatureStats s = stats(beta);
        fit.iterations = it;
        const double g = s.grad / s.weight, h = s.hess / s.weight;
        if (g > 0) hi = beta; else lo = beta;
        if (g == 0.0) { fit.converged = true; break; }
        double next = (h > 0) ? beta - g / h : std::numeric_limits<double>::quiet_NaN();
        if (!(next > lo && next < hi)) {  // outside the bracket or undefined: bisect / expand
            next = std::isinf(hi) ? beta * 2.0 : 0.5 * (lo + hi);
        }
        if (next > kBetaMax) next = kBetaMax;
        const double step = std::fabs(next - beta);
        beta = next;
        if (step <= tol * beta || (hi - lo) <= tol * beta) { fit.converged = true; break; }
        if (beta >= kBetaMax && g < 0) break;  // separable: NLL keeps falling as T -> 0
    }
    fit.beta = beta;
    return fit;
}

}  // namespace calipers
