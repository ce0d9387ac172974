// Per-bin sufficient statistics of a reliability sketch, stored as one flat
// uint64 array so any backend (and the serialized form) sees the same state.
//
// Per stream s (1 stream for binary/top-label input, K for marginal):
//   coarse[B][4] : count, positives, sum(p) lo, sum(p) hi      (equal-width bins)
//   fine[G][4]   : count, positives, sum(p) lo, sum(p) hi      (fine grid cells)
//   totals[4]    : sum((p-y)^2) lo, hi, sum(log loss) lo, hi
// sum(p) and sum((p-y)^2) carry 62 fractional bits, log loss 56 (fixed_point.hpp).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "binning.hpp"
#include "fixed_point.hpp"
#include "fused.hpp"
#include "input_kind.hpp"
#include "thread_pool.hpp"
#include "validate.hpp"
#include "weights.hpp"

namespace calipers {

enum AccumulateParts : int { kCoarse = 1, kFine = 2, kTotals = 4, kAllParts = 7 };

struct SketchLayout {
    std::int64_t bins;     // B
    std::int64_t streams;  // S
    static constexpr std::int64_t kFields = 4;
    std::int64_t stream_size() const { return (bins + kGridCells) * kFields + 4; }
    std::int64_t size() const { return streams * stream_size(); }
};

class SketchAccumulator {
  public:
    SketchAccumulator(std::uint64_t* acc, const SketchLayout& layout, int parts)
        : acc_(acc), layout_(layout), width_(layout.bins), parts_(parts) {}

    // Adds one valid (p, y) pair to stream s.
    void add(std::int64_t s, double p, bool positive) {
        std::uint64_t* base = acc_ + s * layout_.stream_size();
        const std::uint64_t qp = quantize(p, kUnitScale);
        const std::uint64_t pos = positive ? 1u : 0u;
        if (parts_ & kCoarse) add_cell(base + width_.index(p) * 4, qp, pos);
        if (parts_ & kFine) add_cell(base + (layout_.bins + fine_cell(p)) * 4, qp, pos);
        if (parts_ & kTotals) {
            std::uint64_t* tot = base + (layout_.bins + kGridCells) * 4;
            const double r = p - (positive ? 1.0 : 0.0);
            add128(tot, quantize(r * r, kUnitScale));
            add128(tot + 2, quantize(log_loss_term(p, positive), kLogScale));
        }
    }

    // Adds n valid pairs to stream s: indices and fixed-point values first, in a loop
    // free of memory dependencies, then the scatter into the cells.
    void add_block(std::int64_t s, const double* p, const unsigned char* positive, std::size_t n) {
        constexpr std::size_t kBlock = 256;
        std::uint64_t* base = acc_ + s * layout_.stream_size();
        std::int64_t coarse[kBlock], fine[kBlock];
        std::uint64_t qp[kBlock];
        Sum128 sq, ll;
        const LogTable& table = log_table();
        for (std::size_t start = 0; start < n; start += kBlock) {
            const std::size_t m = n - start < kBlock ? n - start : kBlock;
            const double* pb = p + start;
            const unsigned char* yb = positive + start;
            for (std::size_t i = 0; i < m; ++i) {
                qp[i] = quantize(pb[i], kUnitScale);
                coarse[i] = width_.index(pb[i]);
                fine[i] = fine_cell(pb[i]);
            }
            if (parts_ & kTotals) {
                for (std::size_t i = 0; i < m; ++i) {
                    // Select without branches: outcomes are unpredictable.
                    const double yv = static_cast<double>(yb[i]);
                    const double r = pb[i] - yv;
                    sq.add(quantize(r * r, kUnitScale));
                    // p if y = 1, 1 - p if y = 0, exactly (x * 1 + y * 0 == x).
                    const double q = pb[i] * yv + (1.0 - pb[i]) * (1.0 - yv);
                    ll.add(quantize(log_loss_value(q, table), kLogScale));
                }
            }
            if (parts_ & kCoarse)
                for (std::size_t i = 0; i < m; ++i) add_cell(base + coarse[i] * 4, qp[i], yb[i]);
            if (parts_ & kFine)
                for (std::size_t i = 0; i < m; ++i) add_cell(base + (layout_.bins + fine[i]) * 4, qp[i], yb[i]);
        }
        if (parts_ & kTotals) {
            std::uint64_t* tot = base + (layout_.bins + kGridCells) * 4;
            sq.flush(tot);
            ll.flush(tot + 2);
        }
    }

  private:
    static void add_cell(std::uint64_t* cell, std::uint64_t qp, std::uint64_t pos) {
        cell[0] += 1;
        cell[1] += pos;
        add128(cell + 2, qp);
    }
    std::uint64_t* acc_;
    SketchLayout layout_;
    EqualWidth width_;
    int parts_;
};

// The same state filled with sample weights: every pair adds wq = round(w 2^24) to its
// cells' counts (wq to the positives when the outcome is 1) and wq times each fixed-point
// value to the 128-bit sums, so an integer weight w adds exactly 2^24 times what w repeated
// pairs add. The caller adds into a zeroed state and rescales (ReliabilitySketch does).
class WeightedSketchAccumulator {
  public:
    WeightedSketchAccumulator(std::uint64_t* acc, const SketchLayout& layout, int parts)
        : acc_(acc), layout_(layout), width_(layout.bins), parts_(parts), table_(log_table()) {}

    void add(std::int64_t s, double p, bool positive, std::uint64_t wq) {
        std::uint64_t* base = acc_ + s * layout_.stream_size();
        const std::uint64_t qp = quantize(p, kUnitScale);
        const std::uint64_t pos = positive ? wq : 0u;
        if (parts_ & kCoarse) add_cell(base + width_.index(p) * 4, qp, wq, pos);
        if (parts_ & kFine) add_cell(base + (layout_.bins + fine_cell(p)) * 4, qp, wq, pos);
        if (parts_ & kTotals) {
            std::uint64_t* tot = base + (layout_.bins + kGridCells) * 4;
            const double yv = positive ? 1.0 : 0.0;
            const double r = p - yv;
            mul_add128(tot, wq, quantize(r * r, kUnitScale));
            const double q = p * yv + (1.0 - p) * (1.0 - yv);
            mul_add128(tot + 2, wq, quantize(log_loss_value(q, table_), kLogScale));
        }
    }

  private:
    static void add_cell(std::uint64_t* cell, std::uint64_t qp, std::uint64_t wq, std::uint64_t pos) {
        cell[0] += wq;
        cell[1] += pos;
        mul_add128(cell + 2, wq, qp);
    }
    std::uint64_t* acc_;
    SketchLayout layout_;
    EqualWidth width_;
    int parts_;
    const LogTable& table_;
};

// Inputs must have passed validate_* first.
// dst += src for two states of the same layout: counts add, 128-bit sums add with carry.
inline void merge_state(std::uint64_t* dst, const std::uint64_t* src, const SketchLayout& layout) {
    const std::int64_t cells = layout.bins + kGridCells;
    for (std::int64_t s = 0; s < layout.streams; ++s) {
        merge_stream(dst + s * layout.stream_size(), src + s * layout.stream_size(), static_cast<std::size_t>(cells));
    }
}

// Pairs are staged in blocks of (double score, 0/1 outcome) for add_block.
constexpr std::size_t kStage = 4096;

template <class T, class L>
void accumulate_binary(SketchAccumulator& a, const T* p, const L* y, std::size_t n) {
    double ps[kStage];
    unsigned char ys[kStage];
    for (std::size_t start = 0; start < n; start += kStage) {
        const std::size_t m = n - start < kStage ? n - start : kStage;
        for (std::size_t i = 0; i < m; ++i) {
            ps[i] = static_cast<double>(p[start + i]);
            ys[i] = y[start + i] == L(1) ? 1 : 0;
        }
        a.add_block(0, ps, ys, m);
    }
}

// Top-label: confidence = max_k p_ik (first maximum wins), outcome = argmax == label.
template <class T, class L>
void accumulate_top_label(SketchAccumulator& a, const T* P, const L* y, std::size_t n, std::size_t K) {
    double ps[kStage];
    unsigned char ys[kStage];
    for (std::size_t start = 0; start < n; start += kStage) {
        const std::size_t m = n - start < kStage ? n - start : kStage;
        for (std::size_t i = 0; i < m; ++i) {
            const T* row = P + (start + i) * K;
            std::size_t arg = 0;
            for (std::size_t k = 1; k < K; ++k)
                if (row[k] > row[arg]) arg = k;
            ps[i] = static_cast<double>(row[arg]);
            ys[i] = static_cast<std::int64_t>(y[start + i]) == static_cast<std::int64_t>(arg) ? 1 : 0;
        }
        a.add_block(0, ps, ys, m);
    }
}

// Marginal: class k's column against the one-hot indicator, into stream k.
template <class T, class L>
void accumulate_marginal(SketchAccumulator& a, const T* P, const L* y, std::size_t n, std::size_t K) {
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = P + i * K;
        const auto lab = static_cast<std::int64_t>(y[i]);
        for (std::size_t k = 0; k < K; ++k)
            a.add(static_cast<std::int64_t>(k), static_cast<double>(row[k]), lab == static_cast<std::int64_t>(k));
    }
}


// The layout, parts and kind an accumulation relies on; std::invalid_argument otherwise.
inline void check_accumulation(const SketchLayout& layout, std::size_t state_words, int parts, int kind,
                               std::size_t K) {
    if (layout.bins < 1 || layout.bins > kMaxBins) throw std::invalid_argument("bins must lie in [1, 1000000]");
    if (layout.streams < 1 || layout.streams > (std::int64_t(1) << 20))
        throw std::invalid_argument("streams must lie in [1, 2^20]");
    if (state_words != static_cast<std::size_t>(layout.size()))
        throw std::invalid_argument("the state's size does not match bins and streams");
    if (parts < 1 || parts > kAllParts) throw std::invalid_argument("parts must be a non-empty subset of 1 | 2 | 4");
    if (kind != kBinary && kind != kTopLabel && kind != kMarginal)
        throw std::invalid_argument("kind must be 0 (binary), 1 (top-label) or 2 (marginal)");
    if (kind != kBinary && K < 1) throw std::invalid_argument("(n, K) scores need K >= 1");
    if (kind == kMarginal && static_cast<std::int64_t>(K) != layout.streams)
        throw std::invalid_argument("marginal accumulation needs one stream per class");
    if (kind != kMarginal && layout.streams != 1)
        throw std::invalid_argument("binary and top-label accumulation use one stream");
}

// Adds rows [begin, end) of validated input to the state at `acc`. Binary and top-label
// batches of kOnePassRows rows or more take the bins and totals through the one-pass loop
// (fused.hpp: (bin, outcome) units in registers-friendly 128-bit words) and only the fine grid
// through SketchAccumulator; the integers are the same either way.
constexpr std::size_t kOnePassRows = 4096;

template <class T, class L>
void accumulate_rows(std::uint64_t* acc, const SketchLayout& layout, int parts, const T* p, const L* y,
                     std::size_t begin, std::size_t end, std::size_t K, int kind) {
    if (kind != kMarginal && (parts & kCoarse) && end - begin >= kOnePassRows) {
        const std::size_t width = kind == kBinary ? 1 : K;
        add_bins_and_totals(p + begin * width, y + begin, end - begin, K, kind, layout.bins, (parts & kFine) != 0,
                            (parts & kTotals) != 0, acc, acc + layout.bins * 4, acc + (layout.bins + kGridCells) * 4);
        return;
    }
    SketchAccumulator a(acc, layout, parts);
    if (kind == kBinary) accumulate_binary(a, p + begin, y + begin, end - begin);
    else if (kind == kTopLabel) accumulate_top_label(a, p + begin * K, y + begin, end - begin, K);
    else accumulate_marginal(a, p + begin * K, y + begin, end - begin, K);
}

// Rows [begin, end) of validated input, weighted (w[i] per row), into the state at `acc`.
template <class T, class L>
void accumulate_rows_weighted(std::uint64_t* acc, const SketchLayout& layout, int parts, const T* p, const L* y,
                              const double* w, std::size_t begin, std::size_t end, std::size_t K, int kind) {
    WeightedSketchAccumulator a(acc, layout, parts);
    for (std::size_t i = begin; i < end; ++i) {
        const std::uint64_t wq = quantize_weight(w[i]);
        if (kind == kBinary) {
            a.add(0, static_cast<double>(p[i]), y[i] == L(1), wq);
        } else if (kind == kTopLabel) {
            const T* row = p + i * K;
            std::size_t arg = 0;
            for (std::size_t k = 1; k < K; ++k)
                if (row[k] > row[arg]) arg = k;
            a.add(0, static_cast<double>(row[arg]), static_cast<std::int64_t>(y[i]) == static_cast<std::int64_t>(arg),
                  wq);
        } else {
            const T* row = p + i * K;
            const auto lab = static_cast<std::int64_t>(y[i]);
            for (std::size_t k = 0; k < K; ++k)
                a.add(static_cast<std::int64_t>(k), static_cast<double>(row[k]), lab == static_cast<std::int64_t>(k),
                      wq);
        }
    }
}

// Adds n validated rows to the state (no checks): large batches are cut into row ranges on
// the process-wide pool; each range fills its own zeroed state and the states are added:
// the sums are exact integers, so the bytes are the same for any split and any number of
// threads. `w` (may be null) holds one validated weight per row.
template <class T, class L>
void accumulate_valid(std::uint64_t* acc, const SketchLayout& layout, int parts, const T* p, const L* y,
                      const double* w, std::size_t n, std::size_t K, int kind) {
    const std::size_t width = kind == kBinary ? 1 : K;
    const auto words = static_cast<std::size_t>(layout.size());
    const auto rows = [&](std::uint64_t* dst, std::size_t begin, std::size_t end) {
        if (w == nullptr) accumulate_rows(dst, layout, parts, p, y, begin, end, K, kind);
        else accumulate_rows_weighted(dst, layout, parts, p, y, w, begin, end, K, kind);
    };
    std::size_t tasks = 1;
    if (n * width >= kParallelValues) {
        const std::size_t by_rows = (n + kParallelRows - 1) / kParallelRows;
        const std::size_t by_memory = std::max<std::size_t>(1, kPartialBudget / (words * sizeof(std::uint64_t)));
        tasks = std::min({by_rows, static_cast<std::size_t>(num_threads()), by_memory + 1});
    }
    if (tasks <= 1) {
        rows(acc, 0, n);
        return;
    }
    // Allocated before the state is touched: a failed allocation changes nothing.
    std::vector<std::vector<std::uint64_t>> partial(tasks - 1, std::vector<std::uint64_t>(words, 0));
    const std::size_t chunk = (n + tasks - 1) / tasks;
    parallel_for(tasks, [&](std::size_t t) {
        const std::size_t begin = std::min(n, t * chunk), end = std::min(n, (t + 1) * chunk);
        rows(t == 0 ? acc : partial[t - 1].data(), begin, end);
    });
    for (const auto& part : partial) merge_state(acc, part.data(), layout);
}

// Checks everything it relies on (throwing std::invalid_argument before the state changes),
// then adds n rows (scores (n,) for kBinary, (n, K) otherwise) to the state.
template <class T, class L>
void accumulate(std::uint64_t* acc, std::size_t state_words, const SketchLayout& layout, int parts, const T* p,
                const L* y, std::size_t n, std::size_t K, int kind) {
    check_accumulation(layout, state_words, parts, kind, K);
    if (kind == kBinary) require_valid_binary(p, y, n);
    else require_valid_probs(p, y, n, K);
    accumulate_valid(acc, layout, parts, p, y, nullptr, n, K, kind);
}

// (n, K) probabilities, labels in [0, K) and, when atol >= 0, rows summing to 1 within atol
// (left to right, as validate_probs sums): one branch-free pass, the detailed validation
// only to word the error.
template <class T, class L>
void require_valid_probs_rows(const T* P, const L* y, std::size_t n, std::size_t K, double atol) {
    unsigned ok = all_labels_below(y, n, static_cast<std::int64_t>(K)) ? 1u : 0u;
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = P + i * K;
        double s = 0.0;
        unsigned r = 1;
        for (std::size_t k = 0; k < K; ++k) {
            r &= static_cast<unsigned>(row[k] >= T(0)) & static_cast<unsigned>(row[k] <= T(1));
            s += static_cast<double>(row[k]);
        }
        ok &= r & (static_cast<unsigned>(atol < 0.0) | static_cast<unsigned>(std::fabs(s - 1.0) <= atol));
    }
    if (ok) return;
    const Violations v = validate_probs(P, y, n, K, atol, atol >= 0.0);
    raise_if(violation_message(
        v, K, atol, [&](std::size_t i) { return static_cast<double>(P[i]); },
        [&](std::size_t i) { return static_cast<std::int64_t>(y[i]); },
        [&](std::size_t i) {
            double s = 0.0;
            for (std::size_t k = 0; k < K; ++k) s += static_cast<double>(P[i * K + k]);
            return s;
        }));
}

// The sketch update of the Python layer: the checks of accumulate plus the row sums of (n, K)
// input (atol >= 0) and the weights (w may be null; finite, >= 0, below 2^39), all before the
// state changes, so the Python layer does not validate the values again. With weights every
// added count and sum carries 24 fractional bits (WeightedSketchAccumulator).
template <class T, class L>
void accumulate_checked(std::uint64_t* acc, std::size_t state_words, const SketchLayout& layout, int parts, const T* p,
                        const L* y, const double* w, std::size_t n, std::size_t K, int kind, double atol) {
    check_accumulation(layout, state_words, parts, kind, K);
    if (kind == kBinary) require_valid_binary(p, y, n);
    else require_valid_probs_rows(p, y, n, K, atol);
    require_valid_weights(w, n);
    accumulate_valid(acc, layout, parts, p, y, w, n, K, kind);
}

}  // namespace calipers
