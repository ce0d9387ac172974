// Per-sample maps of fitted calibrators (batch loops; the bindings release the GIL).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

namespace calipers {

inline double sigmoid(double t) { return t >= 0 ? 1.0 / (1.0 + std::exp(-t)) : std::exp(t) / (1.0 + std::exp(t)); }

// Platt: sigmoid(a * logit(clip(p)) + b), logit as log(p / (1 - p)) like uncertainty-calibration.
inline void platt_transform(const double* p, std::size_t n, double a, double b, double clip, double* out) {
    for (std::size_t i = 0; i < n; ++i) {
        const double q = std::min(std::max(p[i], clip), 1.0 - clip);
        out[i] = sigmoid(a * std::log(q / (1.0 - q)) + b);
    }
}

// Beta calibration (Kull et al. 2017): sigmoid(a ln p - b ln(1 - p) + c), p clipped to [eps, 1 - eps].
inline void beta_transform(const double* p, std::size_t n, double a, double b, double c, double eps,
                           double* out) {
    for (std::size_t i = 0; i < n; ++i) {
        const double q = std::min(std::max(p[i], eps), 1.0 - eps);
        out[i] = sigmoid(a * std::log(q) - b * std::log(1.0 - q) + c);
    }
}

// Linear interpolation through (xp, fp), x clipped to [xp[0], xp[m-1]] (np.interp semantics).
inline void interp_clip(const double* x, std::size_t n, const double* xp, const double* fp, std::size_t m,
                        double* out) {
    for (std::size_t i = 0; i < n; ++i) {
        const double v = x[i];
        if (v != v) { out[i] = v; continue; }  // NaN in, NaN out (np.interp)
        if (m == 1 || v <= xp[0]) { out[i] = fp[0]; continue; }
        if (v >= xp[m - 1]) { out[i] = fp[m - 1]; continue; }
        const std::size_t k = static_cast<std::size_t>(std::upper_bound(xp, xp + m, v) - xp);  // xp[k-1] <= v < xp[k]
        const double slope = (fp[k] - fp[k - 1]) / (xp[k] - xp[k - 1]);
        out[i] = slope * (v - xp[k - 1]) + fp[k - 1];
    }
}

// Histogram lookup: values[bin of x], bins given by sorted cuts (right_closed: searchsorted
// side='left', else side='right'), index clamped to the last value.
inline void bin_lookup(const double* x, std::size_t n, const double* cuts, std::size_t ncuts, const double* values,
                       std::size_t nvalues, bool right_closed, double* out) {
    for (std::size_t i = 0; i < n; ++i) {
        const double* it = right_closed ? std::lower_bound(cuts, cuts + ncuts, x[i]) : std::upper_bound(cuts, cuts + ncuts, x[i]);
        std::size_t b = static_cast<std::size_t>(it - cuts);
        if (b > nvalues - 1) b = nvalues - 1;
        out[i] = values[b];
    }
}

// softmax(beta * z) per row of (n, K) logits, max-subtracted. Returns the number of
// non-finite logits (their rows come out NaN) and the flat index of the first one.
struct NonFinite {
    std::size_t count = 0;
    std::size_t first = 0;
};

template <class T>
NonFinite softmax_scaled(const T* Z, std::size_t n, std::size_t K, double beta, double* out) {
    NonFinite bad;
    for (std::size_t j = 0; j < n * K; ++j) {
        if (!std::isfinite(static_cast<double>(Z[j]))) {
            if (bad.count++ == 0) bad.first = j;
        }
    }
    if (bad.count) return bad;
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = Z + i * K;
        double* o = out + i * K;
        double zmax = static_cast<double>(row[0]);
        for (std::size_t k = 1; k < K; ++k) zmax = std::fmax(zmax, static_cast<double>(row[k]));
        double se = 0.0;
        for (std::size_t k = 0; k < K; ++k) {
            o[k] = std::exp(beta * (static_cast<double>(row[k]) - zmax));
            se += o[k];
        }
        for (std::size_t k = 0; k < K; ++k) o[k] /= se;
    }
    return bad;
}

}  // namespace calipers
