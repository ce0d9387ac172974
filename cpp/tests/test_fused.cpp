// The one-pass sums (fused.hpp) and the weighted sketch update: exact bins on every edge,
// the same integers for any number of threads, integer weights = repeated rows, and bad
// input refused before anything changes.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "calipers/fused.hpp"
#include "calipers/sketch.hpp"
#include "check.hpp"

using namespace calipers;

namespace {

std::vector<std::uint64_t> sums(const FusedSpec& spec, const double* p, const std::int64_t* y, const double* w,
                                std::size_t n) {
    const std::size_t streams = spec.kind == kMarginal ? spec.K : 1;
    std::vector<std::uint64_t> out(streams * static_cast<std::size_t>(fused_stream_size(spec.bins)), 0);
    binned_sums(spec, p, y, w, n, out.data(), out.size());
    return out;
}

}  // namespace

TEST(cell_binner_matches_equal_width_on_every_edge) {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (std::int64_t bins = 1; bins <= CellBinner::kMaxBins; bins += (bins < 64 ? 1 : 37)) {
        const EqualWidth width(bins);
        const CellBinner cells(bins);
        const WidthBinner selects(bins);
        for (std::int64_t i = 0; i <= bins; ++i) {
            const double e = static_cast<double>(i) / static_cast<double>(bins);
            for (double v : {e, std::nextafter(e, 0.0), std::nextafter(e, 2.0)}) {
                if (!(v >= 0.0 && v <= 1.0)) continue;
                CHECK(cells(v) == width.index(v));
                CHECK(selects(v) == width.index(v));
            }
        }
        for (int k = 0; k < 200; ++k) {
            const double v = u(rng);
            CHECK(cells(v) == width.index(v));
        }
    }
}

TEST(mul_add128_is_the_full_product) {
    std::mt19937_64 rng(5);
    for (int k = 0; k < 10000; ++k) {
        const std::uint64_t a = rng(), b = rng() >> (k % 64);
        std::uint64_t acc[2] = {rng(), rng() >> 2};
        const std::uint64_t lo0 = acc[0], hi0 = acc[1];
        mul_add128(acc, a, b);
#if defined(__SIZEOF_INT128__)
        __extension__ typedef unsigned __int128 u128;
        const u128 expect = ((static_cast<u128>(hi0) << 64) | lo0) + static_cast<u128>(a) * b;
        CHECK(acc[0] == static_cast<std::uint64_t>(expect));
        CHECK(acc[1] == static_cast<std::uint64_t>(expect >> 64));
#else
        (void)lo0;
        (void)hi0;
#endif
    }
}

TEST(binned_sums_same_integers_for_any_threads_and_equal_the_sketch) {
    const std::size_t n = 400000;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> p(n);
    std::vector<std::int64_t> y(n);
    for (std::size_t i = 0; i < n; ++i) {
        p[i] = i % 101 == 0 ? 1.0 : (i % 103 == 0 ? 0.0 : u(rng));
        y[i] = u(rng) < p[i] ? 1 : 0;
    }
    FusedSpec spec;
    spec.bins = 15;
    spec.parts = kFusedBins | kFusedTotals;
    set_num_threads(1);
    const auto one = sums(spec, p.data(), y.data(), nullptr, n);
    set_num_threads(4);
    const auto four = sums(spec, p.data(), y.data(), nullptr, n);
    set_num_threads(default_num_threads());
    CHECK(one == four);
    const SketchLayout layout{15, 1};
    std::vector<std::uint64_t> acc(static_cast<std::size_t>(layout.size()), 0);
    accumulate(acc.data(), acc.size(), layout, kAllParts, p.data(), y.data(), n, 0, kBinary);
    for (std::size_t j = 0; j < 60; ++j) CHECK(one[j] == acc[j]);
    for (std::size_t j = 0; j < 4; ++j) CHECK(one[60 + j] == acc[acc.size() - 4 + j]);
}

TEST(integer_weights_add_exactly_what_repeated_rows_add) {
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> p, rp, w;
    std::vector<std::int64_t> y, ry;
    for (int i = 0; i < 3000; ++i) {
        p.push_back(u(rng));
        y.push_back(u(rng) < p.back() ? 1 : 0);
        const int reps = static_cast<int>(rng() % 4);
        w.push_back(reps);
        for (int r = 0; r < reps; ++r) {
            rp.push_back(p.back());
            ry.push_back(y.back());
        }
    }
    FusedSpec spec;
    spec.bins = 10;
    spec.parts = kFusedBins | kFusedTotals;
    const auto weighted = sums(spec, p.data(), y.data(), w.data(), p.size());
    const auto repeated = sums(spec, rp.data(), ry.data(), nullptr, rp.size());
    // weighted = 2^24 x repeated, word by word (counts) and as 128-bit numbers (sums)
    for (std::size_t c = 0; c < 11; ++c) {
        const std::size_t j = c * 4;
        if (c < 10) {
            CHECK(weighted[j] == repeated[j] << kWeightBits);
            CHECK(weighted[j + 1] == repeated[j + 1] << kWeightBits);
        }
        const std::size_t s = c < 10 ? j + 2 : 40;
        for (std::size_t k = s; k < (c < 10 ? s + 2 : 44); k += 2) {
            CHECK(weighted[k] == repeated[k] << kWeightBits);
            CHECK(weighted[k + 1] == ((repeated[k + 1] << kWeightBits) | (repeated[k] >> (64 - kWeightBits))));
        }
    }
}

TEST(bad_input_is_refused_and_changes_nothing) {
    std::vector<double> p = {0.2, 0.4, 0.6, 0.8};
    std::vector<std::int64_t> y = {0, 1, 1, 0};
    std::vector<double> w = {1.0, 2.0, 0.5, 1.0};
    FusedSpec spec;
    std::vector<std::uint64_t> out(static_cast<std::size_t>(fused_stream_size(15)), 7);
    const auto before = out;
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), -0.5, 1.5}) {
        p[3] = bad;
        CHECK_THROWS(binned_sums(spec, p.data(), y.data(), w.data(), 4, out.data(), out.size()), std::invalid_argument);
        CHECK(out == before);
    }
    p[3] = 0.8;
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), -1.0, 1e20}) {
        w[2] = bad;
        CHECK_THROWS(binned_sums(spec, p.data(), y.data(), w.data(), 4, out.data(), out.size()), std::invalid_argument);
        CHECK(out == before);
    }
    // (n, K) rows must sum to 1 within atol; a row of values outside [0, 1] summing to 1 is bad too
    std::vector<double> P = {0.5, 0.5, 1.2, -0.2};
    std::vector<std::int64_t> labels = {0, 1};
    spec.kind = kTopLabel;
    spec.K = 2;
    spec.atol = 1e-4;
    CHECK_THROWS(binned_sums(spec, P.data(), labels.data(), nullptr, 2, out.data(), out.size()), std::invalid_argument);
    P[2] = 0.7;
    P[3] = 0.2;
    CHECK_THROWS(binned_sums(spec, P.data(), labels.data(), nullptr, 2, out.data(), out.size()), std::invalid_argument);
    CHECK(out == before);
    const SketchLayout layout{15, 1};
    std::vector<std::uint64_t> acc(static_cast<std::size_t>(layout.size()), 3);
    const auto acc_before = acc;
    CHECK_THROWS(accumulate_checked(acc.data(), acc.size(), layout, kAllParts, P.data(), labels.data(),
                                    static_cast<const double*>(nullptr), 2, 2, kTopLabel, 1e-4),
                 std::invalid_argument);
    w[2] = -1.0;
    CHECK_THROWS(accumulate_checked(acc.data(), acc.size(), layout, kAllParts, p.data(), y.data(), w.data(), 4, 0,
                                    kBinary, -1.0),
                 std::invalid_argument);
    CHECK(acc == acc_before);
}
