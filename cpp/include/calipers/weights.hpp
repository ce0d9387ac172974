// Sample-weight checks shared by every weighted kernel: each weight must be finite, >= 0
// and below 2^39 (fixed_point.hpp holds weights as round(w * 2^24)). The messages are the
// Python layer's (calipers._common.validate.weight_error), rule by rule in priority order.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "errors.hpp"
#include "fixed_point.hpp"

namespace calipers {

// One branch-free pass (NaN fails both comparisons); vectorizes.
inline bool weights_valid(const double* w, std::size_t n) {
    unsigned ok = 1;
    for (std::size_t i = 0; i < n; ++i)
        ok &= static_cast<unsigned>(w[i] >= 0.0) & static_cast<unsigned>(w[i] < kWeightLimit);
    return ok != 0;
}

// The message of the first weight rule with offenders: not finite, negative, too large.
inline std::string weight_message(const double* w, std::size_t n) {
    std::uint64_t count[3] = {0, 0, 0};
    std::int64_t first[3] = {-1, -1, -1};
    for (std::size_t i = 0; i < n; ++i) {
        int rule = -1;
        if (!std::isfinite(w[i])) rule = 0;
        else if (w[i] < 0.0) rule = 1;
        else if (w[i] >= kWeightLimit) rule = 2;
        if (rule >= 0 && count[rule]++ == 0) first[rule] = static_cast<std::int64_t>(i);
    }
    static const char* const what[3] = {
        "sample_weight must be finite: ",
        "sample_weight must be >= 0: ",
        "sample_weight must be below 2^39 = 549755813888 (weights are held with 24 fractional bits): ",
    };
    static const char* const verb[3] = {" value(s) are not", " value(s) are negative", " value(s) are not"};
    for (int r = 0; r < 3; ++r) {
        if (!count[r]) continue;
        const auto i = static_cast<std::size_t>(first[r]);
        return std::string(what[r]) + std::to_string(count[r]) + verb[r] + ", first at index " + std::to_string(i) +
               " (value " + format_double(w[i]) + ")";
    }
    return {};
}

// Throws std::invalid_argument (ValueError) naming the first violated rule; w may be null.
inline void require_valid_weights(const double* w, std::size_t n) {
    if (w == nullptr || weights_valid(w, n)) return;
    throw std::invalid_argument(weight_message(w, n));
}

}  // namespace calipers
