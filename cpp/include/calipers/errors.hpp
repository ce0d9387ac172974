// Validation rules shared by every backend, and the messages the core raises with.
// The Python layer turns a Violations record into the user-facing message; entry points of
// the core that rely on valid input re-check it and throw std::invalid_argument (Python's
// ValueError) with the same wording, so a direct call of calipers._core with bad input
// gets an exception, never undefined behaviour.
#pragma once
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace calipers {

// Order = priority: the first rule with an offender is the one reported.
enum Rule : int {
    kScoreNaN = 0,
    kScoreInf = 1,
    kScoreRange = 2,   // outside [0, 1]
    kRowSum = 3,       // |sum_k p_ik - 1| > atol
    kLabelRange = 4,   // 1-D: not in {0, 1}; 2-D: not in [0, K)
    kNumRules = 5,
};

struct Violations {
    std::uint64_t count[kNumRules] = {0, 0, 0, 0, 0};
    std::int64_t first[kNumRules] = {-1, -1, -1, -1, -1};

    void add(int rule, std::size_t index) {
        if (count[rule]++ == 0) first[rule] = static_cast<std::int64_t>(index);
    }
    bool any() const {
        for (int r = 0; r < kNumRules; ++r)
            if (count[r]) return true;
        return false;
    }
};

// Shortest round-trip spelling of a double (Python's repr for ordinary values).
inline std::string format_double(double v) {
    if (v != v) return "nan";
    if (v == 1.0 / 0.0) return "inf";
    if (v == -1.0 / 0.0) return "-inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, res.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

// Where flat index i of (rows, K) scores is, with its value: "index 3 (value 1.5)" for
// 1-D scores (K == 0), "row 1, column 2 (value nan)" for 2-D ones.
inline std::string score_position(std::size_t i, std::size_t K, double value) {
    const std::string where = K == 0 ? "index " + std::to_string(i)
                                     : "row " + std::to_string(i / K) + ", column " + std::to_string(i % K);
    return where + " (value " + format_double(value) + ")";
}

// The message of the highest-priority rule with offenders (empty when there is none).
// value_at(i) gives the score at flat index i; label_at(i) the label of row i; K == 0 for
// 1-D scores; row_sum_at(i) the sum of row i.
template <class ValueAt, class LabelAt, class RowSumAt>
std::string violation_message(const Violations& v, std::size_t K, double atol, ValueAt&& value_at,
                              LabelAt&& label_at, RowSumAt&& row_sum_at) {
    for (int rule = 0; rule < kNumRules; ++rule) {
        const std::uint64_t c = v.count[rule];
        if (!c) continue;
        const auto i = static_cast<std::size_t>(v.first[rule]);
        const std::string n = std::to_string(c);
        switch (rule) {
            case kScoreNaN:
                return "scores must not contain NaN: " + n + " NaN value(s), first at " +
                       score_position(i, K, value_at(i)) + "; drop those rows (nan_policy='omit' does it where a function takes that option)";
            case kScoreInf:
                return "scores must be finite: " + n + " infinite value(s), first at " +
                       score_position(i, K, value_at(i));
            case kScoreRange:
                return "scores must lie in [0, 1]: " + n + " value(s) outside, first at " +
                       score_position(i, K, value_at(i));
            case kRowSum:
                return "each row of scores must sum to 1 within row_sum_atol=" + format_double(atol) + ": " + n +
                       " row(s) do not, first at row " + std::to_string(i) + " (sum " + format_double(row_sum_at(i)) +
                       "); probabilities are never renormalized silently";
            default:
                return std::string("labels must be ") +
                       (K == 0 ? "0 or 1 for 1-D scores" : "integers in [0, " + std::to_string(K) + ")") + ": " + n +
                       " value(s) are not, first at index " + std::to_string(i) + " (value " +
                       std::to_string(label_at(i)) + ")";
        }
    }
    return {};
}

// Throws std::invalid_argument(what) when what is non-empty.
inline void raise_if(const std::string& what) {
    if (!what.empty()) throw std::invalid_argument(what);
}

}  // namespace calipers
