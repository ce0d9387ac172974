// Accumulation into the sketch state: checked before anything changes, the same bytes for
// any split into calls and any number of threads.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "calipers/sketch.hpp"
#include "check.hpp"

using namespace calipers;

namespace {

struct Data {
    std::vector<double> p;
    std::vector<std::int8_t> y;
};

Data binary(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    Data d;
    for (std::size_t i = 0; i < n; ++i) {
        d.p.push_back(i % 97 == 0 ? 1.0 : (i % 89 == 0 ? 0.0 : u(rng)));
        d.y.push_back(static_cast<std::int8_t>(u(rng) < d.p.back() ? 1 : 0));
    }
    return d;
}

std::vector<std::uint64_t> state(const SketchLayout& layout) {
    return std::vector<std::uint64_t>(static_cast<std::size_t>(layout.size()), 0);
}

}  // namespace

TEST(accumulate_same_bytes_for_any_split_and_threads) {
    const SketchLayout layout{15, 1};
    const Data d = binary(300000, 1);
    set_num_threads(1);
    auto one = state(layout);
    accumulate(one.data(), one.size(), layout, kAllParts, d.p.data(), d.y.data(), d.p.size(), 0, kBinary);
    set_num_threads(4);
    auto threaded = state(layout);
    accumulate(threaded.data(), threaded.size(), layout, kAllParts, d.p.data(), d.y.data(), d.p.size(), 0, kBinary);
    auto chunked = state(layout);
    for (std::size_t start = 0; start < d.p.size(); start += 77777) {
        const std::size_t m = std::min<std::size_t>(77777, d.p.size() - start);
        accumulate(chunked.data(), chunked.size(), layout, kAllParts, d.p.data() + start, d.y.data() + start, m, 0,
                   kBinary);
    }
    CHECK(one == threaded);
    CHECK(one == chunked);
    std::uint64_t count = 0;
    for (std::int64_t b = 0; b < layout.bins; ++b) count += one[static_cast<std::size_t>(b) * 4];
    CHECK(count == d.p.size());
    set_num_threads(default_num_threads());
}

TEST(accumulate_refuses_bad_values_and_changes_nothing) {
    const SketchLayout layout{15, 1};
    Data d = binary(5000, 2);
    auto acc = state(layout);
    accumulate(acc.data(), acc.size(), layout, kAllParts, d.p.data(), d.y.data(), d.p.size(), 0, kBinary);
    const auto before = acc;
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), 1.5, -0.0 - 1e-9,
                       1e300}) {
        d.p.back() = bad;
        CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, d.p.data(), d.y.data(), d.p.size(), 0, kBinary),
                     std::invalid_argument);
        CHECK(acc == before);
    }
    d.p.back() = 0.5;
    d.y.back() = 2;
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, d.p.data(), d.y.data(), d.p.size(), 0, kBinary),
                 std::invalid_argument);
    CHECK(acc == before);
}

TEST(accumulate_refuses_bad_layouts) {
    const SketchLayout layout{15, 1};
    const Data d = binary(10, 3);
    auto acc = state(layout);
    CHECK_THROWS(accumulate(acc.data(), acc.size() - 1, layout, kAllParts, d.p.data(), d.y.data(), 10, 0, kBinary),
                 std::invalid_argument);
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, 0, d.p.data(), d.y.data(), 10, 0, kBinary),
                 std::invalid_argument);
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, d.p.data(), d.y.data(), 10, 0, 7),
                 std::invalid_argument);
    CHECK_THROWS(accumulate(acc.data(), acc.size(), SketchLayout{0, 1}, kAllParts, d.p.data(), d.y.data(), 10, 0, kBinary),
                 std::invalid_argument);
    // marginal needs one stream per class
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, d.p.data(), d.y.data(), 5, 2, kMarginal),
                 std::invalid_argument);
}

TEST(accumulate_probabilities_checks_labels_and_values) {
    const SketchLayout layout{10, 3};
    std::vector<double> P = {0.2, 0.3, 0.5, 0.1, 0.1, 0.8};
    std::vector<std::int32_t> y = {2, 0};
    auto acc = state(layout);
    accumulate(acc.data(), acc.size(), layout, kAllParts, P.data(), y.data(), 2, 3, kMarginal);
    const auto before = acc;
    y[1] = 3;
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, P.data(), y.data(), 2, 3, kMarginal),
                 std::invalid_argument);
    y[1] = -1;
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, P.data(), y.data(), 2, 3, kMarginal),
                 std::invalid_argument);
    y[1] = 0;
    P[4] = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS(accumulate(acc.data(), acc.size(), layout, kAllParts, P.data(), y.data(), 2, 3, kMarginal),
                 std::invalid_argument);
    CHECK(acc == before);
}

TEST(merge_state_adds_with_carry) {
    const SketchLayout layout{2, 1};
    auto a = state(layout), b = state(layout);
    a[2] = ~std::uint64_t(0);  // low word of a 128-bit sum about to carry
    b[2] = 1;
    merge_state(a.data(), b.data(), layout);
    CHECK(a[2] == 0);
    CHECK(a[3] == 1);
}
