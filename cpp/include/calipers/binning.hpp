// Bin assignment rules.
//  * equal-width (calipers' convention): edges e_i = i/B, bins [e_i, e_{i+1}),
//    the last bin closed [e_{B-1}, 1]; nothing is dropped.
//  * fine grid: cells uniform in the float exponent/mantissa of min(p, 1-p), so
//    resolution is relative near 0 and 1 (0.999 and 0.9999 fall in different cells).
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace calipers {

constexpr std::int64_t kMaxBins = 1000000;  // the largest bin count any entry point takes

class EqualWidth {
  public:
    explicit EqualWidth(std::int64_t bins) : bins_(bins), edges_(static_cast<std::size_t>(bins) + 1) {
        for (std::int64_t i = 0; i <= bins; ++i)
            edges_[static_cast<std::size_t>(i)] = static_cast<double>(i) / static_cast<double>(bins);
    }
    // p must lie in [0, 1]. p * B is off by at most one bin; the edge table fixes it.
    std::int64_t index(double p) const {
        auto i = static_cast<std::int64_t>(p * static_cast<double>(bins_));
        if (i >= bins_) i = bins_ - 1;
        if (i < 0) i = 0;
        if (i + 1 < bins_ && p >= edges_[static_cast<std::size_t>(i + 1)]) ++i;
        else if (i > 0 && p < edges_[static_cast<std::size_t>(i)]) --i;
        return i;
    }
    std::int64_t bins() const { return bins_; }

  private:
    std::int64_t bins_;
    std::vector<double> edges_;
};

// Fine grid geometry (the Python side mirrors these constants).
constexpr int kGridOctaves = 31;       // t = min(p, 1-p) resolved down to 2^-32
constexpr int kGridSubBits = 6;        // 64 cells per octave (1.6% relative width)
constexpr int kGridSub = 1 << kGridSubBits;
constexpr int kGridHalf = 1 + kGridOctaves * kGridSub;  // underflow cell + octaves
constexpr int kGridCells = 2 * kGridHalf;

// Index of the cell of t in [0, 0.5] on one half of the grid, ascending in t.
inline std::int64_t half_cell(double t) {
    std::uint64_t bits;
    std::memcpy(&bits, &t, sizeof bits);
    const int biased = static_cast<int>((bits >> 52) & 0x7ff);
    const int e = biased - 1023;  // t in [2^e, 2^(e+1))
    if (e < -kGridOctaves - 1) return 0;                 // t < 2^-32, zero, subnormal
    if (e >= -1) return kGridHalf - 1;                   // t == 0.5
    const auto sub = static_cast<std::int64_t>((bits >> (52 - kGridSubBits)) & (kGridSub - 1));
    return 1 + static_cast<std::int64_t>(e + kGridOctaves + 1) * kGridSub + sub;
}

// Global cell index, non-decreasing in p over [0, 1]. Branch-free in the side of 0.5
// (random scores would mispredict it half the time): min(p, 1 - p) is p for p <= 0.5
// and the exact 1 - p above.
inline std::int64_t fine_cell(double p) {
    const double q = 1.0 - p;
    const double t = q < p ? q : p;
    const std::int64_t half = half_cell(t);
    const std::int64_t upper = p > 0.5 ? 1 : 0;
    return half + upper * (kGridCells - 1 - 2 * half);
}

}  // namespace calipers
