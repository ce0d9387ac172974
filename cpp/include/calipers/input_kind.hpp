// What one accumulation call adds (1-D (score, outcome) pairs, or (n, K) probabilities
// reduced to their top label or kept class by class) and when it goes parallel: shared by the
// sketch update (sketch.hpp) and the one-pass sums (fused.hpp).
#pragma once
#include <cstddef>

namespace calipers {

enum InputKind : int { kBinary = 0, kTopLabel = 1, kMarginal = 2 };

constexpr std::size_t kParallelRows = 65536;                    // rows per task, at least
constexpr std::size_t kParallelValues = std::size_t(1) << 18;   // smaller batches stay on the calling thread
constexpr std::size_t kPartialBudget = std::size_t(64) << 20;   // bytes of per-task partial states

}  // namespace calipers
