// vecmath.hpp's branch-free exp and log against glibc: within 2 ulp on every range they meet,
// and the IEEE special values (NaN, +-inf, 0, subnormals) exactly as std::exp / std::log.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "calipers/transforms.hpp"
#include "calipers/vecmath.hpp"
#include "check.hpp"

namespace {

std::int64_t ordered(double x) {  // doubles as integers in their numeric order
    std::int64_t i;
    std::memcpy(&i, &x, sizeof i);
    return i < 0 ? std::numeric_limits<std::int64_t>::min() - i : i;
}

std::uint64_t ulps(double a, double b) {
    if (a == b) return 0;  // also +0 == -0
    const std::int64_t d = ordered(a) - ordered(b);
    return static_cast<std::uint64_t>(d < 0 ? -d : d);
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

TEST(vecmath_exp_within_2_ulp_of_glibc) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> wide(-745.5, 709.9), narrow(-1.0, 1.0);
    std::uint64_t worst = 0;
    for (int i = 0; i < 2000000; ++i) {
        const double x = i % 2 ? wide(rng) : narrow(rng) * std::pow(10.0, -(i % 17));
        worst = std::max(worst, ulps(calipers::vecmath::exp(x), std::exp(x)));
    }
    CHECK(worst <= 2);
    const double inf = std::numeric_limits<double>::infinity();
    for (double x : {0.0, -0.0, 1.0, -1.0, 709.78, 709.79, 710.0, 1e300, inf, -745.13, -745.14, -746.0, -1e300, -inf})
        CHECK(ulps(calipers::vecmath::exp(x), std::exp(x)) <= 2 || same(calipers::vecmath::exp(x), std::exp(x)));
    CHECK(std::isnan(calipers::vecmath::exp(std::nan(""))));
    CHECK(calipers::vecmath::exp(-inf) == 0.0 && calipers::vecmath::exp(inf) == inf);
}

TEST(vecmath_log_within_2_ulp_of_glibc) {
    std::mt19937_64 rng(8);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::uint64_t worst = 0;
    for (int i = 0; i < 2000000; ++i) {
        std::uint64_t bits = rng() & 0x7fffffffffffffffULL;  // every positive exponent, subnormals too
        if ((bits >> 52) == 0x7ff) bits &= 0x7fefffffffffffffULL;
        double x;
        std::memcpy(&x, &bits, sizeof x);
        if (i % 2) x = unit(rng);  // probabilities, where the transforms use it
        if (x == 0.0) continue;
        worst = std::max(worst, ulps(calipers::vecmath::log(x), std::log(x)));
    }
    CHECK(worst <= 2);
    const double inf = std::numeric_limits<double>::infinity();
    const double tiny = std::numeric_limits<double>::denorm_min();
    for (double x : {1.0, 2.0, 0.5, std::sqrt(2.0), std::sqrt(0.5), 1.0 + 1e-16, 1.0 - 1e-16, tiny, 2.2250738585072014e-308,
                     1.7976931348623157e308})
        CHECK(ulps(calipers::vecmath::log(x), std::log(x)) <= 2);
    CHECK(calipers::vecmath::log(0.0) == -inf && calipers::vecmath::log(-0.0) == -inf);
    CHECK(calipers::vecmath::log(inf) == inf);
    CHECK(std::isnan(calipers::vecmath::log(-1.0)) && std::isnan(calipers::vecmath::log(-inf)));
    CHECK(std::isnan(calipers::vecmath::log(std::nan(""))));
}

TEST(vecmath_sigmoid_and_transforms_match_the_libm_formulas) {
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> t(-800.0, 800.0), p(0.0, 1.0);
    std::uint64_t worst = 0;
    for (int i = 0; i < 200000; ++i) {
        const double v = t(rng);
        const double ref = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
        worst = std::max(worst, ulps(calipers::vecmath::sigmoid(v), ref));
    }
    CHECK(worst <= 4);
    CHECK(std::isnan(calipers::vecmath::sigmoid(std::nan(""))));
    double x[5] = {p(rng), 0.0, 1.0, std::nan(""), 1e-300}, out[5];
    calipers::platt_transform(x, 5, 1.3, -0.2, 1e-12, out);
    for (int i = 0; i < 5; ++i) {
        const double q = std::min(std::max(x[i], 1e-12), 1.0 - 1e-12);
        const double ref = 1.0 / (1.0 + std::exp(-(1.3 * std::log(q / (1.0 - q)) - 0.2)));
        CHECK(std::isnan(x[i]) ? std::isnan(out[i]) : std::fabs(out[i] - ref) <= 1e-15);
    }
}
