// Validation rules shared by every backend. The Python layer turns a Violations
// record into the user-facing message, so all backends raise the same error.
#pragma once
#include <cstddef>
#include <cstdint>

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

}  // namespace calipers
