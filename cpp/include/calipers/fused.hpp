// One pass for the one-shot metrics: validation, bin index and only the sums the metric
// asks for, fused in one loop over the input.
//
// The result has the layout of one sketch stream without a grid (sketch.hpp, rows.hpp with
// grid (0, 0)): per stream
//   bins[B][4] : count, positives, sum(p) lo, sum(p) hi     (equal-width bins, or cuts)
//   totals[4]  : sum((p-y)^2) lo, hi, sum(log loss) lo, hi  (when asked for)
// with the sketch's fixed point (fixed_point.hpp), so the values equal a sketch's exactly,
// for any split into threads. With sample weights every count and sum carries 24 fractional
// bits: count = sum round(w 2^24), sum(p) = sum round(w 2^24) quantize(p), and so on.
//
// How the hot loop stays cheap:
//  * validity is one branch-free AND per value (NaN fails both comparisons); the detailed
//    validation (counts, first index, message) runs only when that flag says something is
//    wrong, so good input is read once;
//  * a value is clamped into [0, 1] before its bin is computed (select, no branch), so bad
//    input never reaches a float-to-int cast;
//  * (bin, outcome) units: count and score sum of a unit live in one 128-bit word
//    (count at bit 96, sum below; a task adds fewer than 2^30 rows per flush, so the sum stays
//    below 2^92), so each value costs one add/adc pair, spread over 4 copies of the small
//    table so consecutive values in the same bin do not wait on each other;
//  * top-label rows: max, first argmax, the row sum (left to right, as validation defines it)
//    and the value checks in one pass per row; wide rows are scanned 4 at a time so the
//    row-sum chains overlap;
//  * batches of 2^18 values or more are cut into row ranges on the process-wide pool; each
//    range fills its own integers and they are added, so the bytes never depend on threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "binning.hpp"
#include "errors.hpp"
#include "fixed_point.hpp"
#include "input_kind.hpp"
#include "thread_pool.hpp"
#include "validate.hpp"
#include "weights.hpp"

namespace calipers {

// Which sums binned_sums fills besides the bins: 4 = squared errors and log-loss terms,
// 8 = squared errors only.
// (kFusedFine, internal: the sketch's fine-grid cells too, for the sketch update.)
enum FusedParts : int { kFusedBins = 1, kFusedFine = 2, kFusedTotals = 4, kFusedSquares = 8 };

struct FusedSpec {
    std::int64_t bins = 15;
    int kind = kBinary;
    int parts = kFusedBins;
    double atol = -1.0;               // (n, K) rows must sum to 1 within atol; negative: no row check
    const double* cuts = nullptr;     // bins - 1 sorted cuts: the bin of x is the number of cuts <= x
    std::size_t K = 0;                // columns of (n, K) input
};

inline std::int64_t fused_stream_size(std::int64_t bins) { return bins * 4 + 4; }

// dst += src for one stream of `cells` cells (count, positives, 128-bit score sum, spare)
// followed by the 4 totals words (128-bit squares, count, 128-bit logs, spare): counts add,
// 128-bit sums add with carry. Shared by the fused kernels and the sketch merge.
inline void merge_stream(std::uint64_t* d, const std::uint64_t* r, std::size_t cells) {
    for (std::size_t c = 0; c < cells; ++c) {
        d[c * 4] += r[c * 4];
        d[c * 4 + 1] += r[c * 4 + 1];
        add128(d + c * 4 + 2, r[c * 4 + 2]);
        d[c * 4 + 3] += r[c * 4 + 3];
    }
    std::uint64_t* t = d + cells * 4;
    const std::uint64_t* u = r + cells * 4;
    add128(t, u[0]);
    t[1] += u[1];
    add128(t + 2, u[2]);
    t[3] += u[3];
}

// Equal-width bin (binning.hpp EqualWidth::index) with the corrections done by selects:
// p * B is off by at most one bin and the edge table fixes it.
class WidthBinner {
  public:
    explicit WidthBinner(std::int64_t bins)
        : bins_(bins), scale_(static_cast<double>(bins)), up_(static_cast<std::size_t>(bins)),
          lo_(static_cast<std::size_t>(bins)) {
        const double inf = std::numeric_limits<double>::infinity();
        for (std::int64_t i = 0; i < bins; ++i) {
            up_[static_cast<std::size_t>(i)] =
                i + 1 < bins ? static_cast<double>(i + 1) / static_cast<double>(bins) : inf;
            lo_[static_cast<std::size_t>(i)] = i > 0 ? static_cast<double>(i) / static_cast<double>(bins) : -inf;
        }
    }
    // The binning function as a small value (pointers into the tables): hot loops keep it in
    // registers instead of reloading the tables' addresses after every store.
    struct View {
        std::int64_t bins;
        double scale;
        const double* up;
        const double* lo;
        // p must lie in [0, 1].
        std::int64_t operator()(double p) const {
            auto i = static_cast<std::int64_t>(p * scale);
            i = i < bins - 1 ? i : bins - 1;
            const auto k = static_cast<std::size_t>(i);
            return i + static_cast<std::int64_t>(p >= up[k]) - static_cast<std::int64_t>(p < lo[k]);
        }
    };
    View view() const { return View{bins_, scale_, up_.data(), lo_.data()}; }
    std::int64_t operator()(double p) const { return view()(p); }

  private:
    std::int64_t bins_;
    double scale_;
    std::vector<double> up_, lo_;
};

// The same function for B <= 1024 from a table of 2048 cells: p * 2048 is exact (a power of
// two), so cell t = floor(p * 2048) holds [t / 2048, (t + 1) / 2048); the table keeps the bin
// of the cell's lower end and the one edge that can fall inside the cell (edges are at least
// two cells apart), so bin = base[t] + (p >= edge[t]): one exact multiply, one conversion,
// one compare. Tested equal to EqualWidth::index on every edge and its neighbours.
class CellBinner {
  public:
    static constexpr std::int64_t kCells = 2048;
    static constexpr std::int64_t kMaxBins = 1024;
    explicit CellBinner(std::int64_t bins)
        : edge_(static_cast<std::size_t>(kCells + 1)), base_(static_cast<std::size_t>(kCells + 1)) {
        const EqualWidth width(bins);
        for (std::int64_t t = 0; t <= kCells; ++t) {
            const auto k = static_cast<std::size_t>(t);
            const std::int64_t b = width.index(static_cast<double>(t) / static_cast<double>(kCells));
            base_[k] = b;
            edge_[k] = std::numeric_limits<double>::infinity();
            if (b + 1 < bins) {
                const double e = static_cast<double>(b + 1) / static_cast<double>(bins);
                if (e < static_cast<double>(t + 1) / static_cast<double>(kCells)) edge_[k] = e;
            }
        }
    }
    struct View {
        const double* edge;
        const std::int64_t* base;
        // p must lie in [0, 1].
        std::int64_t operator()(double p) const {
            const auto t = static_cast<std::size_t>(static_cast<std::int64_t>(p * static_cast<double>(kCells)));
            return base[t] + static_cast<std::int64_t>(p >= edge[t]);
        }
    };
    View view() const { return View{edge_.data(), base_.data()}; }
    std::int64_t operator()(double p) const { return view()(p); }

  private:
    std::vector<double> edge_;
    std::vector<std::int64_t> base_;
};

// Building the cell table costs about as much as binning a few thousand values.
constexpr std::size_t kCellBinnerRows = 4096;

// Bin = number of cuts <= p (calipers' left-closed equal-mass bins).
class CutBinner {
  public:
    CutBinner(const double* cuts, std::size_t ncuts) : cuts_(cuts), end_(cuts + ncuts) {}
    std::int64_t operator()(double p) const { return std::upper_bound(cuts_, end_, p) - cuts_; }
    CutBinner view() const { return *this; }

  private:
    const double* cuts_;
    const double* end_;
};

namespace fused_detail {

constexpr std::uint64_t kPackedCount = std::uint64_t(1) << 32;  // one count, at bit 96
constexpr std::size_t kFlushRows = std::size_t(1) << 30;        // rows per task between flushes

struct Packed {
    unsigned long long lo = 0, hi = 0;  // the type _addcarry_u64 writes (64 bits everywhere it exists)
};

// c += q + 2^96: one add/adc pair (a branch on the carry would mispredict every few values).
inline void packed_add(Packed& c, std::uint64_t q) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // in place: two separate 8-byte stores (a 16-byte copy of two fresh words would stall on
    // store forwarding)
    _addcarry_u64(_addcarry_u64(0, c.lo, q, &c.lo), c.hi, kPackedCount, &c.hi);
#elif defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    u128 v = (static_cast<u128>(c.hi) << 64) | c.lo;
    v += static_cast<u128>(q) + (static_cast<u128>(kPackedCount) << 64);
    c.lo = static_cast<std::uint64_t>(v);
    c.hi = static_cast<std::uint64_t>(v >> 64);
#else
    const std::uint64_t lo = c.lo + q;
    c.hi += ((lo < q) ? 1u : 0u) + kPackedCount;
    c.lo = lo;
#endif
}

inline unsigned in_unit(double v) { return static_cast<unsigned>(v >= 0.0) & static_cast<unsigned>(v <= 1.0); }

// A task's private sums: (bin, outcome) units in 4 copies (1 for many bins or streams), the
// totals per stream, flushed into a state of fused_stream_size(bins) words per stream.
class Local {
  public:
    Local(std::int64_t bins, std::size_t streams, bool weighted)
        : units_(static_cast<std::size_t>(2 * bins)), streams_(streams),
          copies_(streams == 1 && bins <= 256 ? 4 : 1), weighted_(weighted),
          packed_(weighted ? 0 : streams * copies_ * units_), wcount_(weighted ? streams * units_ : 0),
          wsum_(weighted ? 2 * streams * units_ : 0), totals_(4 * streams, 0) {}

    std::size_t copies() const { return copies_; }
    std::size_t units() const { return units_; }
    Packed* packed(std::size_t stream) { return packed_.data() + stream * copies_ * units_; }
    std::uint64_t* wcount(std::size_t stream) { return wcount_.data() + stream * units_; }
    std::uint64_t* wsum(std::size_t stream) { return wsum_.data() + 2 * stream * units_; }
    std::uint64_t* totals(std::size_t stream) { return totals_.data() + 4 * stream; }

    // The sketch update: (fine cell, outcome) units too, flushed into `cells` (the fine-grid
    // cells of a sketch stream, 4 words each).
    void keep_fine(std::uint64_t* cells) {
        fine_.assign(2 * static_cast<std::size_t>(kGridCells), Packed{});
        fine_out_ = cells;
    }
    Packed* fine() { return fine_.data(); }

    // Adds the sums into `out` (streams x (bins * 4 + 4) words) and zeroes them.
    void flush(std::uint64_t* out) {
        for (std::size_t u = 0; u < fine_.size(); ++u) {
            Packed& f = fine_[u];
            if (f.hi == 0 && f.lo == 0) continue;
            std::uint64_t* cell = fine_out_ + (u / 2) * 4;
            const std::uint64_t count = f.hi >> 32, lo = f.lo, hi = f.hi & 0xffffffffu;
            cell[0] += count;
            if (u & 1) cell[1] += count;
            cell[2] += lo;
            cell[3] += hi + ((cell[2] < lo) ? 1u : 0u);
            f = Packed{};
        }
        const std::size_t bins = units_ / 2;
        const std::size_t size = bins * 4 + 4;
        for (std::size_t s = 0; s < streams_; ++s) {
            std::uint64_t* st = out + s * size;
            for (std::size_t u = 0; u < units_; ++u) {
                std::uint64_t* cell = st + (u / 2) * 4;
                std::uint64_t count, lo, hi;
                if (weighted_) {
                    count = wcount(s)[u];
                    lo = wsum(s)[2 * u];
                    hi = wsum(s)[2 * u + 1];
                    wcount(s)[u] = 0;
                    wsum(s)[2 * u] = wsum(s)[2 * u + 1] = 0;
                } else {
                    count = 0;
                    lo = hi = 0;
                    for (std::size_t c = 0; c < copies_; ++c) {
                        Packed& p = packed(s)[u * copies_ + c];
                        count += p.hi >> 32;
                        const std::uint64_t plo = p.lo, phi = p.hi & 0xffffffffu;
                        lo += plo;
                        hi += phi + ((lo < plo) ? 1u : 0u);
                        p = Packed{};
                    }
                }
                cell[0] += count;
                if (u & 1) cell[1] += count;
                cell[2] += lo;
                cell[3] += hi + ((cell[2] < lo) ? 1u : 0u);
            }
            std::uint64_t* tot = totals(s);
            std::uint64_t* dst = st + bins * 4;
            for (int j = 0; j < 4; j += 2) {
                dst[j] += tot[j];
                dst[j + 1] += tot[j + 1] + ((dst[j] < tot[j]) ? 1u : 0u);
                tot[j] = tot[j + 1] = 0;
            }
        }
    }

  private:
    std::size_t units_, streams_, copies_;
    bool weighted_;
    std::vector<Packed> packed_;
    std::vector<std::uint64_t> wcount_, wsum_, totals_;
    std::vector<Packed> fine_;
    std::uint64_t* fine_out_ = nullptr;
};

// The totals of one (score, outcome) pair, as SketchAccumulator::add_block computes them.
template <int Parts>
inline void add_totals(double p, std::uint64_t positive, Sum128& sq, Sum128& ll, const LogTable& table) {
    const double yv = static_cast<double>(positive);
    if (Parts & (kFusedTotals | kFusedSquares)) {
        const double r = p - yv;
        sq.add(quantize(r * r, kUnitScale));
    }
    if (Parts & kFusedTotals) {
        const double q = p * yv + (1.0 - p) * (1.0 - yv);
        ll.add(quantize(log_loss_value(q, table), kLogScale));
    }
}

template <int Parts>
inline void add_totals_weighted(double p, std::uint64_t positive, std::uint64_t wq, MulSum128& sq, MulSum128& ll,
                                const LogTable& table) {
    const double yv = static_cast<double>(positive);
    if (Parts & (kFusedTotals | kFusedSquares)) {
        const double r = p - yv;
        sq.add(wq, quantize(r * r, kUnitScale));
    }
    if (Parts & kFusedTotals) {
        const double q = p * yv + (1.0 - p) * (1.0 - yv);
        ll.add(wq, quantize(log_loss_value(q, table), kLogScale));
    }
}

inline void store_totals(std::uint64_t* tot, Sum128& sq, Sum128& ll) {
    sq.flush(tot);
    ll.flush(tot + 2);
}

inline void store_totals(std::uint64_t* tot, MulSum128& sq, MulSum128& ll) {
    sq.flush(tot);
    ll.flush(tot + 2);
}

// Adds one weighted pair to a stream's units.
inline void weighted_add(Local& loc, std::size_t stream, std::size_t u, std::uint64_t wq, std::uint64_t q) {
    loc.wcount(stream)[u] += wq;
    mul_add128(loc.wsum(stream) + 2 * u, wq, q);
}

template <class L>
inline unsigned binary_label_ok(L v) {
    return static_cast<unsigned>(v == L(0)) | static_cast<unsigned>(v == L(1));
}

template <class L>
inline unsigned class_label_ok(L v, std::size_t K) {
    const auto lab = static_cast<std::int64_t>(v);
    return static_cast<unsigned>(lab >= 0) & static_cast<unsigned>(lab < static_cast<std::int64_t>(K));
}

// Returns 1 when every value, label and weight of rows [0, n) is valid. The checks ride along
// as selects on a floating flag (the cheapest form measured): a bad value is replaced by 0
// before anything is computed from it, and the caller words the error from the whole input.
template <int Parts, class T, class L, class Binner>
unsigned binary_range(const T* p, const L* y, const double* w, std::size_t n, const Binner& binner, Local& loc) {
    const auto bin = binner.view();  // in registers, not reloaded after every store
    const LogTable& table = log_table();
    double bad = 0.0;
    std::uint64_t label_bad = 0;
    if (w == nullptr) {
        Packed* packed = loc.packed(0);
        Packed* fine = loc.fine();
        const std::size_t copies = loc.copies();
        Sum128 sq, ll;
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = static_cast<double>(p[i]);
            const bool in = v >= 0.0 && v <= 1.0;
            bad = in ? bad : 1.0;
            const double ps = in ? v : 0.0;
            const auto lab = static_cast<std::uint64_t>(y[i]);
            label_bad |= lab & ~std::uint64_t(1);
            const std::uint64_t pos = lab & 1u;
            const auto u = static_cast<std::size_t>(2 * bin(ps)) + pos;
            // consecutive values go to different copies, so no store waits on the previous one
            const std::uint64_t q = quantize(ps, kUnitScale);
            packed_add(packed[copies == 4 ? u * 4 + (i & 3) : u], q);
            if (Parts & kFusedFine) packed_add(fine[2 * static_cast<std::size_t>(fine_cell(ps)) + pos], q);
            if (Parts & (kFusedTotals | kFusedSquares)) add_totals<Parts>(ps, pos, sq, ll, table);
        }
        store_totals(loc.totals(0), sq, ll);
    } else {
        MulSum128 sq, ll;
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = static_cast<double>(p[i]);
            const bool in = v >= 0.0 && v <= 1.0;
            const double wv = w[i];
            const bool win = wv >= 0.0 && wv < kWeightLimit;
            bad = (in && win) ? bad : 1.0;
            const double ps = in ? v : 0.0;
            const std::uint64_t wq = quantize_weight(win ? wv : 0.0);
            const auto lab = static_cast<std::uint64_t>(y[i]);
            label_bad |= lab & ~std::uint64_t(1);
            const std::uint64_t pos = lab & 1u;
            weighted_add(loc, 0, static_cast<std::size_t>(2 * bin(ps)) + pos, wq, quantize(ps, kUnitScale));
            if (Parts & (kFusedTotals | kFusedSquares)) add_totals_weighted<Parts>(ps, pos, wq, sq, ll, table);
        }
        store_totals(loc.totals(0), sq, ll);
    }
    return bad == 0.0 && label_bad == 0 ? 1u : 0u;
}

// Rows of (n, K) input: max (first maximum wins), its column and the left-to-right sum, R rows
// at a time so R independent row-sum and max chains overlap in the pipeline. Value checks:
// with a row-sum check (Checked = false) a row is valid iff its min >= 0, its max <= 1 and its
// sum is within atol of 1 (NaN or inf anywhere makes the sum fail), so each value costs only a
// min; without one (compat modes), every value is checked.
template <bool Checked, std::size_t R, class T>
inline void scan_rows(const T* P, std::size_t K, T* best, std::size_t* arg, double* sum, unsigned& ok) {
    T b[R], mn[R];
    std::size_t a[R];
    double s[R];
    for (std::size_t r = 0; r < R; ++r) {
        b[r] = P[r * K];
        mn[r] = P[r * K];
        a[r] = 0;
        s[r] = 0.0;
    }
    unsigned o = 1;
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t r = 0; r < R; ++r) {
            const T v = P[r * K + k];
            if (Checked) o &= in_unit(static_cast<double>(v));
            s[r] += static_cast<double>(v);
            mn[r] = v < mn[r] ? v : mn[r];
            const bool gt = v > b[r];
            b[r] = gt ? v : b[r];
            a[r] = gt ? k : a[r];
        }
    }
    for (std::size_t r = 0; r < R; ++r) {
        o &= static_cast<unsigned>(mn[r] >= T(0)) & static_cast<unsigned>(b[r] <= T(1));
        best[r] = b[r];
        arg[r] = a[r];
        sum[r] = s[r];
    }
    ok &= o;
}

inline unsigned row_sum_ok(double sum, double atol) {
    return static_cast<unsigned>(atol < 0.0) | static_cast<unsigned>(std::fabs(sum - 1.0) <= atol);
}

// Rows [0, n) of top-label input, scanned R at a time.
template <int Parts, std::size_t R, class T, class L, class Binner>
unsigned top_label_rows(const T* P, const L* y, const double* w, std::size_t n, std::size_t K, double atol,
                        const Binner& binner, Local& loc) {
    const auto bin = binner.view();  // in registers, not reloaded after every store
    const LogTable& table = log_table();
    unsigned ok = 1;
    Packed* packed = w == nullptr ? loc.packed(0) : nullptr;
    const std::size_t copies = loc.copies(), mask = copies - 1;
    Sum128 sq, ll;
    MulSum128 wsq, wll;
    const bool each = atol < 0.0;  // no row-sum check: every value is checked
    T best[R];
    std::size_t arg[R];
    double sum[R];
    for (std::size_t i = 0; i < n;) {
        const std::size_t m = n - i >= R ? R : 1;
        if (m == R) {
            if (each) scan_rows<true, R>(P + i * K, K, best, arg, sum, ok);
            else scan_rows<false, R>(P + i * K, K, best, arg, sum, ok);
        } else if (each) {
            scan_rows<true, 1>(P + i * K, K, best, arg, sum, ok);
        } else {
            scan_rows<false, 1>(P + i * K, K, best, arg, sum, ok);
        }
        for (std::size_t r = 0; r < m; ++r, ++i) {
            const L lab = y[i];
            ok &= class_label_ok(lab, K) & row_sum_ok(sum[r], atol);
            const auto conf = static_cast<double>(best[r]);
            const double ps = in_unit(conf) ? conf : 0.0;
            const std::uint64_t pos = static_cast<std::int64_t>(lab) == static_cast<std::int64_t>(arg[r]) ? 1u : 0u;
            const auto u = static_cast<std::size_t>(2 * bin(ps)) + pos;
            if (w == nullptr) {
                const std::uint64_t q = quantize(ps, kUnitScale);
                packed_add(packed[u * copies + (i & mask)], q);
                if (Parts & kFusedFine) packed_add(loc.fine()[2 * static_cast<std::size_t>(fine_cell(ps)) + pos], q);
                if (Parts & (kFusedTotals | kFusedSquares)) add_totals<Parts>(ps, pos, sq, ll, table);
            } else {
                const double wv = w[i];
                const unsigned wok = static_cast<unsigned>(wv >= 0.0) & static_cast<unsigned>(wv < kWeightLimit);
                ok &= wok;
                const std::uint64_t wq = quantize_weight(wok ? wv : 0.0);
                weighted_add(loc, 0, u, wq, quantize(ps, kUnitScale));
                if (Parts & (kFusedTotals | kFusedSquares)) add_totals_weighted<Parts>(ps, pos, wq, wsq, wll, table);
            }
        }
    }
    if (w == nullptr) store_totals(loc.totals(0), sq, ll);
    else store_totals(loc.totals(0), wsq, wll);
    return ok;
}

// Narrow rows pair up (two chains per step were fastest for K = 10); wide rows go 8 at a time.
template <int Parts, class T, class L, class Binner>
unsigned top_label_range(const T* P, const L* y, const double* w, std::size_t n, std::size_t K, double atol,
                         const Binner& bin, Local& loc) {
    if (K < 32) return top_label_rows<Parts, 2>(P, y, w, n, K, atol, bin, loc);
    return top_label_rows<Parts, 8>(P, y, w, n, K, atol, bin, loc);
}

// Marginal: class k's column against 1[label == k], into stream k.
template <int Parts, class T, class L, class Binner>
unsigned marginal_range(const T* P, const L* y, const double* w, std::size_t n, std::size_t K, double atol,
                        const Binner& binner, Local& loc) {
    const auto bin = binner.view();  // in registers, not reloaded after every store
    const LogTable& table = log_table();
    unsigned ok = 1;
    std::vector<Sum128> sq(K), ll(K);
    std::vector<MulSum128> wsq(K), wll(K);
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = P + i * K;
        const L lab = y[i];
        const auto label = static_cast<std::int64_t>(lab);
        double sum = 0.0;
        unsigned rok = class_label_ok(lab, K);
        std::uint64_t wq = 0;
        if (w != nullptr) {
            const double wv = w[i];
            const unsigned wok = static_cast<unsigned>(wv >= 0.0) & static_cast<unsigned>(wv < kWeightLimit);
            rok &= wok;
            wq = quantize_weight(wok ? wv : 0.0);
        }
        for (std::size_t k = 0; k < K; ++k) {
            const auto v = static_cast<double>(row[k]);
            const unsigned vok = in_unit(v);
            rok &= vok;
            sum += v;
            const double ps = vok ? v : 0.0;
            const std::uint64_t pos = label == static_cast<std::int64_t>(k) ? 1u : 0u;
            const auto u = static_cast<std::size_t>(2 * bin(ps)) + pos;
            if (w == nullptr) {
                packed_add(loc.packed(k)[u], quantize(ps, kUnitScale));
                if (Parts & (kFusedTotals | kFusedSquares)) add_totals<Parts>(ps, pos, sq[k], ll[k], table);
            } else {
                weighted_add(loc, k, u, wq, quantize(ps, kUnitScale));
                if (Parts & (kFusedTotals | kFusedSquares)) add_totals_weighted<Parts>(ps, pos, wq, wsq[k], wll[k], table);
            }
        }
        ok &= rok & row_sum_ok(sum, atol);
    }
    for (std::size_t k = 0; k < K; ++k) {
        if (w == nullptr) store_totals(loc.totals(k), sq[k], ll[k]);
        else store_totals(loc.totals(k), wsq[k], wll[k]);
    }
    return ok;
}

template <int Parts, class T, class L, class Binner>
unsigned run_range(const FusedSpec& spec, const T* p, const L* y, const double* w, std::size_t begin, std::size_t end,
                   const Binner& bin, Local& loc, std::uint64_t* out) {
    unsigned ok = 1;
    for (std::size_t start = begin; start < end; start += kFlushRows) {
        const std::size_t m = std::min(kFlushRows, end - start);
        const double* ws = w == nullptr ? nullptr : w + start;
        if (spec.kind == kBinary) ok &= binary_range<Parts>(p + start, y + start, ws, m, bin, loc);
        else if (spec.kind == kTopLabel)
            ok &= top_label_range<Parts>(p + start * spec.K, y + start, ws, m, spec.K, spec.atol, bin, loc);
        else ok &= marginal_range<Parts>(p + start * spec.K, y + start, ws, m, spec.K, spec.atol, bin, loc);
        loc.flush(out);
    }
    return ok;
}

template <class T, class L, class Binner>
unsigned dispatch_parts(const FusedSpec& spec, const T* p, const L* y, const double* w, std::size_t begin,
                        std::size_t end, const Binner& bin, Local& loc, std::uint64_t* out) {
    if (spec.parts & kFusedFine) {  // the sketch update (unweighted): bins, fine cells, totals or not
        if (spec.parts & kFusedTotals)
            return run_range<kFusedBins | kFusedFine | kFusedTotals>(spec, p, y, w, begin, end, bin, loc, out);
        return run_range<kFusedBins | kFusedFine>(spec, p, y, w, begin, end, bin, loc, out);
    }
    if (spec.parts & kFusedTotals) return run_range<kFusedBins | kFusedTotals>(spec, p, y, w, begin, end, bin, loc, out);
    if (spec.parts & kFusedSquares) return run_range<kFusedBins | kFusedSquares>(spec, p, y, w, begin, end, bin, loc, out);
    return run_range<kFusedBins>(spec, p, y, w, begin, end, bin, loc, out);
}

}  // namespace fused_detail

// The checks binned_sums relies on (std::invalid_argument otherwise).
inline void check_fused_spec(const FusedSpec& spec, std::size_t out_words) {
    if (spec.bins < 1 || spec.bins > kMaxBins) throw std::invalid_argument("bins must lie in [1, 1000000]");
    if (spec.kind != kBinary && spec.kind != kTopLabel && spec.kind != kMarginal)
        throw std::invalid_argument("kind must be 0 (binary), 1 (top-label) or 2 (marginal)");
    if (!(spec.parts & kFusedBins) || (spec.parts & ~(kFusedBins | kFusedTotals | kFusedSquares)))
        throw std::invalid_argument("parts must be 1 (bins), optionally with 4 (squares and log loss) or 8 (squares)");
    if (spec.kind != kBinary && spec.K < 1) throw std::invalid_argument("(n, K) scores need K >= 1");
    if (spec.kind == kMarginal && spec.K > (std::size_t(1) << 20))
        throw std::invalid_argument("marginal sums need K <= 2^20 classes");
    const std::size_t streams = spec.kind == kMarginal ? spec.K : 1;
    if (out_words != streams * static_cast<std::size_t>(fused_stream_size(spec.bins)))
        throw std::invalid_argument("the output's size does not match bins and streams");
}

// The detailed validation of bad input: throws the message of the first violated rule.
template <class T, class L>
[[noreturn]] void raise_fused(const FusedSpec& spec, const T* p, const L* y, const double* w, std::size_t n) {
    std::string what;
    if (spec.kind == kBinary) {
        const Violations v = validate_binary(p, y, n);
        what = violation_message(
            v, 0, 0.0, [&](std::size_t i) { return static_cast<double>(p[i]); },
            [&](std::size_t i) { return static_cast<std::int64_t>(y[i]); }, [](std::size_t) { return 0.0; });
    } else {
        const std::size_t K = spec.K;
        const Violations v = validate_probs(p, y, n, K, spec.atol, spec.atol >= 0.0);
        what = violation_message(
            v, K, spec.atol, [&](std::size_t i) { return static_cast<double>(p[i]); },
            [&](std::size_t i) { return static_cast<std::int64_t>(y[i]); },
            [&](std::size_t i) {
                double s = 0.0;
                for (std::size_t k = 0; k < K; ++k) s += static_cast<double>(p[i * K + k]);
                return s;
            });
    }
    if (what.empty() && w != nullptr) what = weight_message(w, n);
    if (what.empty()) what = "binned_sums: invalid input";
    throw std::invalid_argument(what);
}

// Adds the bins (and totals, per spec.parts) of n rows into `out` (zeroed by the caller, or a
// state of the same layout), after checking everything: any bad value, label, row sum or
// weight throws std::invalid_argument with the Python layer's message and leaves `out` as
// it was. `w` (may be null) holds one weight per row.
template <class T, class L>
void binned_sums(const FusedSpec& spec, const T* p, const L* y, const double* w, std::size_t n, std::uint64_t* out,
                 std::size_t out_words) {
    using namespace fused_detail;
    check_fused_spec(spec, out_words);
    const std::size_t streams = spec.kind == kMarginal ? spec.K : 1;
    const std::size_t width = spec.kind == kBinary ? 1 : spec.K;
    std::size_t tasks = 1;
    if (n * width >= kParallelValues) {
        const std::size_t rows_per_task = std::max<std::size_t>(1024, kParallelRows / width);
        tasks = std::min<std::size_t>((n + rows_per_task - 1) / rows_per_task, num_threads());
    }
    std::vector<std::vector<std::uint64_t>> parts(tasks, std::vector<std::uint64_t>(out_words, 0));
    std::vector<unsigned> ok(tasks, 1);
    const std::size_t chunk = (n + tasks - 1) / std::max<std::size_t>(tasks, 1);
    const auto work = [&](std::size_t t) {
        const std::size_t begin = std::min(n, t * chunk), end = std::min(n, (t + 1) * chunk);
        Local loc(spec.bins, streams, w != nullptr);
        if (spec.cuts != nullptr)
            ok[t] = dispatch_parts(spec, p, y, w, begin, end, CutBinner(spec.cuts, static_cast<std::size_t>(spec.bins - 1)),
                                   loc, parts[t].data());
        else if (spec.bins <= CellBinner::kMaxBins && end - begin >= kCellBinnerRows)
            ok[t] = dispatch_parts(spec, p, y, w, begin, end, CellBinner(spec.bins), loc, parts[t].data());
        else ok[t] = dispatch_parts(spec, p, y, w, begin, end, WidthBinner(spec.bins), loc, parts[t].data());
    };
    if (tasks <= 1) work(0);
    else parallel_for(tasks, work);
    for (unsigned o : ok)
        if (!o) raise_fused(spec, p, y, w, n);
    const std::size_t size = static_cast<std::size_t>(fused_stream_size(spec.bins));
    const std::size_t cells = static_cast<std::size_t>(spec.bins);
    for (const auto& part : parts) {
        for (std::size_t s = 0; s < streams; ++s) {
            merge_stream(out + s * size, part.data() + s * size, cells);
        }
    }
}

// The sketch update (sketch.hpp accumulate_rows) through the one-pass loop: rows [0, n) of
// validated binary or top-label input; the equal-width cells go to `coarse` (bins x 4 words of
// a sketch stream), with `fine` the fine-grid cells to `fine_cells` (kGridCells x 4 words) and,
// with `totals`, the squared-error and log-loss sums to `tot` (4 words). The same integers as
// SketchAccumulator, at a fraction of the cost: each value is read once and lands in three
// 128-bit (count at bit 96, sum) words.
template <class T, class L>
void add_bins_and_totals(const T* p, const L* y, std::size_t n, std::size_t K, int kind, std::int64_t bins,
                         bool fine, bool totals, std::uint64_t* coarse, std::uint64_t* fine_cells, std::uint64_t* tot) {
    using namespace fused_detail;
    FusedSpec spec;
    spec.bins = bins;
    spec.kind = kind;
    spec.parts = kFusedBins | (fine ? kFusedFine : 0) | (totals ? kFusedTotals : 0);
    spec.K = K;
    Local loc(bins, 1, false);
    if (fine) loc.keep_fine(fine_cells);
    std::vector<std::uint64_t> temp(static_cast<std::size_t>(fused_stream_size(bins)), 0);
    const double* no_weights = nullptr;
    if (bins <= CellBinner::kMaxBins) dispatch_parts(spec, p, y, no_weights, 0, n, CellBinner(bins), loc, temp.data());
    else dispatch_parts(spec, p, y, no_weights, 0, n, WidthBinner(bins), loc, temp.data());
    const auto cells = static_cast<std::size_t>(bins);
    for (std::size_t c = 0; c < cells; ++c) {
        coarse[c * 4] += temp[c * 4];
        coarse[c * 4 + 1] += temp[c * 4 + 1];
        add128(coarse + c * 4 + 2, temp[c * 4 + 2]);
        coarse[c * 4 + 3] += temp[c * 4 + 3];
    }
    if (totals) {
        const std::uint64_t* u = temp.data() + cells * 4;
        add128(tot, u[0]);
        tot[1] += u[1];
        add128(tot + 2, u[2]);
        tot[3] += u[3];
    }
}

}  // namespace calipers
