// Value checks run before any state changes (all-or-nothing updates). They count
// every offender per rule and remember the first index, in one branch-light pass.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "errors.hpp"

namespace calipers {

template <class T>
inline void check_score(T v, std::size_t i, Violations& out) {
    const double p = static_cast<double>(v);
    if (std::isnan(p)) out.add(kScoreNaN, i);
    else if (std::isinf(p)) out.add(kScoreInf, i);
    else if (p < 0.0 || p > 1.0) out.add(kScoreRange, i);
}

// 1-D scores in [0, 1] with labels in {0, 1}.
template <class T, class L>
Violations validate_binary(const T* p, const L* y, std::size_t n) {
    Violations out;
    for (std::size_t i = 0; i < n; ++i) {
        check_score(p[i], i, out);
        if (!(y[i] == L(0) || y[i] == L(1))) out.add(kLabelRange, i);
    }
    return out;
}

// (n, K) probabilities: each entry finite in [0, 1], rows summing to 1 within atol
// (summed left to right, as every backend does), labels in [0, K).
// Element rules report the flat index; row and label rules report the row.
template <class T, class L>
Violations validate_probs(const T* P, const L* y, std::size_t n, std::size_t K, double atol,
                          bool check_rows) {
    Violations out;
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = P + i * K;
        double sum = 0.0;
        for (std::size_t k = 0; k < K; ++k) {
            check_score(row[k], i * K + k, out);
            sum += static_cast<double>(row[k]);
        }
        if (check_rows && !(std::fabs(sum - 1.0) <= atol)) out.add(kRowSum, i);
        const auto lab = static_cast<std::int64_t>(y[i]);
        if (lab < 0 || lab >= static_cast<std::int64_t>(K) || static_cast<L>(lab) != y[i])
            out.add(kLabelRange, i);
    }
    return out;
}

// Entry points that rely on valid input (the sketch accumulation, the bootstrap units)
// re-check it: a branch-free pass that vectorizes (NaN fails both comparisons), and the
// full validation only to word the error.
template <class T>
bool all_in_unit_interval(const T* p, std::size_t n) {
    unsigned ok = 1;
    for (std::size_t i = 0; i < n; ++i) ok &= static_cast<unsigned>(p[i] >= T(0)) & static_cast<unsigned>(p[i] <= T(1));
    return ok != 0;
}

template <class L>
bool all_labels_below(const L* y, std::size_t n, std::int64_t K) {
    unsigned ok = 1;
    for (std::size_t i = 0; i < n; ++i) {
        const auto v = static_cast<std::int64_t>(y[i]);
        ok &= static_cast<unsigned>(v >= 0) & static_cast<unsigned>(v < K);
    }
    return ok != 0;
}

// Throws std::invalid_argument (the Python layer's message) unless 1-D scores lie in
// [0, 1] and labels in {0, 1}.
template <class T, class L>
void require_valid_binary(const T* p, const L* y, std::size_t n) {
    if (all_in_unit_interval(p, n) && all_labels_below(y, n, 2)) return;
    const Violations v = validate_binary(p, y, n);
    raise_if(violation_message(
        v, 0, 0.0, [&](std::size_t i) { return static_cast<double>(p[i]); },
        [&](std::size_t i) { return static_cast<std::int64_t>(y[i]); }, [](std::size_t) { return 0.0; }));
}

// The same for (n, K) probabilities and labels in [0, K); row sums are not what the
// caller relies on, so they are the Python layer's business only.
template <class T, class L>
void require_valid_probs(const T* P, const L* y, std::size_t n, std::size_t K) {
    if (all_in_unit_interval(P, n * K) && all_labels_below(y, n, static_cast<std::int64_t>(K))) return;
    const Violations v = validate_probs(P, y, n, K, 0.0, false);
    raise_if(violation_message(
        v, K, 0.0, [&](std::size_t i) { return static_cast<double>(P[i]); },
        [&](std::size_t i) { return static_cast<std::int64_t>(y[i]); }, [](std::size_t) { return 0.0; }));
}

}  // namespace calipers
