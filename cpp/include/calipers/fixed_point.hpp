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

// Sample weights are held in fixed point too: w becomes round(w * 2^24), an integer, so an
// integer weight w adds exactly what w repeated rows add (times 2^24), every sum stays an
// exact integer, and merges stay order-free. Weights must lie in [0, 2^39) so that
// w * 2^24 + 1/2 stays below 2^63; the resolution is 2^-24 (6e-8) of one unit of weight.
constexpr int kWeightBits = 24;
constexpr double kWeightScale = 16777216.0;      // 2^24
constexpr double kWeightLimit = 549755813888.0;  // 2^39

// Round half up of w * 2^24 for w in [0, 2^39) (w * 2^24 is exact: a power-of-two scaling).
inline std::uint64_t quantize_weight(double w) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(w * kWeightScale + 0.5));
}

// acc[0..1] (lo, hi) += a * b, the full 128-bit product.
inline void mul_add128(std::uint64_t* acc, std::uint64_t a, std::uint64_t b) {
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    const u128 prod = static_cast<u128>(a) * b;
    const auto plo = static_cast<std::uint64_t>(prod);
    const auto phi = static_cast<std::uint64_t>(prod >> 64);
#else
    const std::uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    const std::uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const std::uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    const std::uint64_t plo = (mid << 32) | (p00 & 0xffffffffu);
    const std::uint64_t phi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
    acc[0] += plo;
    acc[1] += phi + ((acc[0] < plo) ? 1u : 0u);
}

// A 128-bit sum of 128-bit products held in registers.
struct MulSum128 {
    std::uint64_t v[2] = {0, 0};
    void add(std::uint64_t a, std::uint64_t b) { mul_add128(v, a, b); }
    void flush(std::uint64_t* acc) {
        acc[0] += v[0];
        acc[1] += v[1] + ((acc[0] < v[0]) ? 1u : 0u);
        v[0] = v[1] = 0;
    }
};

// A logarithm built only from IEEE +,-,*,/ and bit operations, so that the C++, Numba
// and numpy backends return the same bits (libm and numpy's SIMD log may differ by an ulp).

// log(m) for m in [sqrt(1/2), sqrt(2)) by the atanh series (used to build the table).
inline double log_series(double m) {
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
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
    return (2.0 * s) * poly;
}

// Centres c_j = 1 + (j + 1/2)/128 of the 128 mantissa cells of [1, 2), 1/c_j and log(c_j).
struct LogTable {
    static constexpr int kBits = 7;
    static constexpr int kSize = 1 << kBits;
    double inv[kSize];
    double log_c[kSize];
    LogTable() {
        for (int j = 0; j < kSize; ++j) {
            const double c = 1.0 + (static_cast<double>(j) + 0.5) / kSize;
            inv[j] = 1.0 / c;
            // log c = log(c/2) + log 2 with c/2 in [0.5, 1): reduce to [sqrt(1/2), sqrt(2))
            log_c[j] = c < 1.4142135623730951 ? log_series(c) : log_series(c / 2.0) + 0.69314718055994531;
        }
    }
};

inline const LogTable& log_table() {
    static const LogTable table;
    return table;
}

// x = 2^e m, m in [1, 2); log x = e log 2 + log c_j + log1p((m - c_j) / c_j), |r| < 1/257.
// Absolute error below 2e-16 (relative 4e-16 away from x = 1), the size of the 2^-56
// quantization step of the log-loss sums anyway.
inline double det_log(double x, const LogTable& t) {
    constexpr double kLn2Hi = 6.93147180369123816490e-01;
    constexpr double kLn2Lo = 1.90821492927058770002e-10;
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);  // x is a positive normal number here
    const int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
    const auto j = static_cast<int>((bits >> (52 - LogTable::kBits)) & (LogTable::kSize - 1));
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    std::memcpy(&m, &bits, sizeof m);
    const double c = 1.0 + (static_cast<double>(j) + 0.5) / LogTable::kSize;
    const double r = (m - c) * t.inv[j];  // m - c is exact
    double s = -1.0 / 6.0;
    s = s * r + 1.0 / 5.0;
    s = s * r - 1.0 / 4.0;
    s = s * r + 1.0 / 3.0;
    s = s * r - 1.0 / 2.0;
    s = s * r + 1.0;
    const double de = static_cast<double>(e);
    return de * kLn2Hi + (de * kLn2Lo + (t.log_c[j] + s * r));
}

inline double det_log(double x) { return det_log(x, log_table()); }

// -log q for the probability q given to the observed outcome, floored at 1e-15.
inline double log_loss_value(double q, const LogTable& t) {
    q = q < kLogLossFloor ? kLogLossFloor : q;
    const double v = -det_log(q, t);
    return v > 0.0 ? v : 0.0;
}

inline double log_loss_term(double p, bool positive) {
    return log_loss_value(positive ? p : 1.0 - p, log_table());
}

}  // namespace calipers
