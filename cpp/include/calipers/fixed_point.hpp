// Exact, order-independent accumulation: every per-sample value is quantized to a
// fixed-point integer and summed in 128 bits, so chunked updates, merges in any
// order and every backend give bit-identical states.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace calipers {

// Values in [0, 1] (scores, squared errors) carry 62 fractional bits.
constexpr double kUnitScale = 4611686018427387904.0;  // 2^62
// Log-loss terms lie in [0, -log(1e-15)] ~ [0, 34.6]; 56 fractional bits.
constexpr double kLogScale = 72057594037927936.0;  // 2^56
constexpr double kLogLossFloor = 1e-15;

// Truncation toward zero, as numpy's astype(uint64). Every quantized value is below
// 2^63, so the fast signed conversion gives the same integer as an unsigned one.
inline std::uint64_t quantize(double v, double scale) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(v * scale));
}

// A 128-bit sum held in registers while a block is summed.
struct Sum128 {
    std::uint64_t lo = 0, hi = 0;
    void add(std::uint64_t q) {
        lo += q;
        hi += (lo < q) ? 1u : 0u;
    }
    void flush(std::uint64_t* acc) {
        acc[0] += lo;
        acc[1] += hi + ((acc[0] < lo) ? 1u : 0u);
        lo = hi = 0;
    }
};

// (lo, hi) pair stored adjacently: acc[0] = low word, acc[1] = high word.
inline void add128(std::uint64_t* acc, std::uint64_t q) {
    acc[0] += q;
    acc[1] += (acc[0] < q) ? 1u : 0u;
}

// A logarithm built only from IEEE +,-,*,/ and frexp, so that the C++, Numba and
// numpy backends return the same bits (libm and numpy's SIMD log may differ by an ulp).
inline double det_log(double x) {
    constexpr double kSqrtHalf = 0.70710678118654757;
    constexpr double kLn2Hi = 6.93147180369123816490e-01;
    constexpr double kLn2Lo = 1.90821492927058770002e-10;
    // frexp by bit manipulation (x is a positive normal number here): x = m 2^e, m in [0.5, 1)
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    int e = static_cast<int>((bits >> 52) & 0x7ff) - 1022;
    bits = (bits & 0x800fffffffffffffULL) | 0x3fe0000000000000ULL;
    double m;
    std::memcpy(&m, &bits, sizeof m);
    const bool small = m < kSqrtHalf;  // unpredictable: keep it branch-free
    m = small ? m * 2.0 : m;
    e -= small ? 1 : 0;
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    // atanh series: log(m) = 2 s (1 + z/3 + z^2/5 + ... + z^10/21), |z| <= 0.0295
    double poly = 1.0 / 21.0;
    poly = poly * z + 1.0 / 19.0;
    poly = poly * z + 1.0 / 17.0;
    poly = poly * z + 1.0 / 15.0;
    poly = poly * z + 1.0 / 13.0;
    poly = poly * z + 1.0 / 11.0;
    poly = poly * z + 1.0 / 9.0;
    poly = poly * z + 1.0 / 7.0;
    poly = poly * z + 1.0 / 5.0;
    poly = poly * z + 1.0 / 3.0;
    poly = poly * z + 1.0;
    const double de = static_cast<double>(e);
    return de * kLn2Hi + (de * kLn2Lo + (2.0 * s) * poly);
}

// -log q for the probability q given to the observed outcome, floored at 1e-15.
inline double log_loss_value(double q) {
    q = q < kLogLossFloor ? kLogLossFloor : q;
    const double v = -det_log(q);
    return v > 0.0 ? v : 0.0;
}

inline double log_loss_term(double p, bool positive) { return log_loss_value(positive ? p : 1.0 - p); }

}  // namespace calipers
