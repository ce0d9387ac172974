// Many sketch states side by side ("rows"), each with any coarsening of the fine grid:
// the per-group, per-window state of a CalibrationMonitor and the state of a
// ReliabilitySketch(grid=...). One row holds
//   coarse[B][4] : count, positives, sum(p) lo, sum(p) hi      (equal-width bins)
//   grid[G][4]   : the same per cell of the (octaves, sub_bits) grid (G = 0: no grid)
//   totals[4]    : sum((p-y)^2) lo, hi, sum(log loss) lo, hi
// exactly as sketch.hpp lays out one stream; with (31, 6) a row is that stream, word for word.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "binning.hpp"
#include "fixed_point.hpp"

namespace calipers {

// The (octaves, sub_bits) grid: cells uniform in the exponent and top sub_bits mantissa
// bits of t = min(p, 1 - p) down to 2^-(octaves + 1); (0, 0) means no grid.
struct Grid {
    int octaves;
    int sub_bits;
    std::int64_t half() const { return 1 + static_cast<std::int64_t>(octaves) * (std::int64_t(1) << sub_bits); }
    std::int64_t cells() const { return octaves == 0 ? 0 : 2 * half(); }

    std::int64_t half_cell(double t) const {
        std::uint64_t bits;
        std::memcpy(&bits, &t, sizeof bits);
        const int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;  // t in [2^e, 2^(e+1))
        if (e < -octaves - 1) return 0;
        if (e >= -1) return half() - 1;  // t == 0.5
        const auto sub = static_cast<std::int64_t>((bits >> (52 - sub_bits)) & ((std::uint64_t(1) << sub_bits) - 1));
        return 1 + static_cast<std::int64_t>(e + octaves + 1) * (std::int64_t(1) << sub_bits) + sub;
    }
    // Non-decreasing in p over [0, 1]; equals fine_cell(p) for (31, 6).
    std::int64_t cell(double p) const {
        const double q = 1.0 - p;
        const double t = q < p ? q : p;
        const std::int64_t h = half_cell(t);
        return p > 0.5 ? cells() - 1 - h : h;
    }
};

inline bool valid_grid(int octaves, int sub_bits) {
    return (octaves == 0 && sub_bits == 0) ||
           (octaves >= 1 && octaves <= kGridOctaves && sub_bits >= 0 && sub_bits <= kGridSubBits);
}

inline std::int64_t row_size(std::int64_t bins, const Grid& g) { return (bins + g.cells()) * 4 + 4; }

// Counts offenders of each input rule and the first index of each (-1: none).
struct RowViolations {
    std::int64_t count[3] = {0, 0, 0};  // row index out of range, score outside [0, 1] or NaN, outcome not 0/1
    std::int64_t first[3] = {-1, -1, -1};
    void add(int rule, std::size_t i) {
        if (count[rule]++ == 0) first[rule] = static_cast<std::int64_t>(i);
    }
    bool any() const { return count[0] || count[1] || count[2]; }
};

inline RowViolations check_rows(const std::int64_t* rows, const double* p, const std::uint8_t* y, std::size_t n,
                                std::int64_t nrows) {
    RowViolations v;
    for (std::size_t i = 0; i < n; ++i) {
        if (rows[i] < 0 || rows[i] >= nrows) v.add(0, i);
        if (!(p[i] >= 0.0 && p[i] <= 1.0)) v.add(1, i);
        if (y[i] > 1) v.add(2, i);
    }
    return v;
}

// The message every backend raises for the first violated rule.
inline std::string rows_error(const RowViolations& v, std::int64_t nrows) {
    static const char* what[3] = {"row index(es) outside [0, ", "score(s) outside [0, 1] or NaN", "outcome(s) not 0 or 1"};
    for (int r = 0; r < 3; ++r) {
        if (!v.count[r]) continue;
        std::string rule = what[r];
        if (r == 0) rule += std::to_string(nrows) + ")";
        return "accumulate_rows: " + std::to_string(v.count[r]) + " " + rule + ", first at index " +
               std::to_string(v.first[r]);
    }
    return "";
}

// Adds pair i (score p[i], outcome y[i]) to row rows[i] of acc (nrows rows of row_size words).
// All-or-nothing: every input is checked before the state changes.
inline void accumulate_rows(std::uint64_t* acc, std::int64_t nrows, std::int64_t bins, const Grid& g,
                            const std::int64_t* rows, const double* p, const std::uint8_t* y, std::size_t n) {
    const RowViolations v = check_rows(rows, p, y, n, nrows);
    if (v.any()) throw std::invalid_argument(rows_error(v, nrows));
    const EqualWidth width(bins);
    const std::int64_t size = row_size(bins, g);
    const std::int64_t tot = (bins + g.cells()) * 4;
    const LogTable& table = log_table();
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t* base = acc + rows[i] * size;
        const double pi = p[i];
        const std::uint64_t qp = quantize(pi, kUnitScale);
        const std::uint64_t pos = y[i];
        std::uint64_t* c = base + width.index(pi) * 4;
        c[0] += 1;
        c[1] += pos;
        add128(c + 2, qp);
        if (g.octaves) {
            c = base + (bins + g.cell(pi)) * 4;
            c[0] += 1;
            c[1] += pos;
            add128(c + 2, qp);
        }
        const double yv = static_cast<double>(pos);
        const double r = pi - yv;
        add128(base + tot, quantize(r * r, kUnitScale));
        const double q = pi * yv + (1.0 - pi) * (1.0 - yv);
        add128(base + tot + 2, quantize(log_loss_value(q, table), kLogScale));
    }
}

}  // namespace calipers
