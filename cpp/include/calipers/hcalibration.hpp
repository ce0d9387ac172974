// The h-calibration objective (Huang et al. 2025; specs/debiased.md section 3.1) and its
// analytic gradient with respect to the calibrated probabilities.
//
// Events are the n*K entries of the probability matrix, o = 1 for the entry of the true
// class. For each subset S (leave-one-class-out: the rows whose label is not c, for each
// class c; else all rows) the events of S are ordered by p + 1e-20 (a stable sort: ties keep
// their row-major order), v_t = p_t - o_t, and
//   D_t = (1 / (W + 1)) * sum_{|j - t| <= W/2} v_j      (terms outside S are zero)
//   e_t = max(|D_t| - eps, 0)
//   L_S = sum_t omega_t e_t,  omega_t = 1/|S|                         (unweighted)
//                             omega_t = (1/15) sum_{b : t in b} 1/(n_b + 1e-5)   (ace: 15
//                             closed equal-width bins [b/15, (b+1)/15], n_b events of S in b)
//   loss = scale * mean_S L_S.
// The order and the bins are constants (as in the official code, where they are detached),
// so dD_t/dp_j = 1/(W+1) for j in t's window and
//   d loss / d p_j = scale / #S * sum_S (1/(W+1)) sum_{|t - j| <= W/2} omega_t sign(D_t) [|D_t| > eps].
// Window sums are kept by adding the entering and subtracting the leaving term (compensated)
// and are recomputed from scratch every W + 1 steps, so rounding cannot drift.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace calipers {

constexpr int kHcalUnweighted = 0;
constexpr int kHcalAce = 1;
constexpr int kHcalBins = 15;

// Neumaier-compensated sum: adding a value and later subtracting it leaves the small terms
// in between exact, so a window of tiny probabilities after a window of outcomes sums to
// its tiny value, not to the rounding residue of the outcomes (eps = 1e-20 decides there).
struct CompensatedSum {
    double s = 0.0, c = 0.0;
    void add(double x) {
        const double t = s + x;
        if (std::fabs(s) >= std::fabs(x))
            c += (s - t) + x;
        else
            c += (x - t) + s;
        s = t;
    }
    double value() const { return s + c; }
};

// Centered moving sum with half-width r over seq[0..m) (zero outside), into out; the sum
// is recomputed from scratch every 2r + 1 steps.
inline void centered_window_sum(const std::vector<double>& seq, std::size_t r, std::vector<double>& out) {
    const std::size_t m = seq.size();
    out.assign(m, 0.0);
    if (m == 0) return;
    const std::size_t period = 2 * r + 1;
    CompensatedSum acc;
    std::size_t since = period;
    for (std::size_t t = 0; t < m; ++t, ++since) {
        if (since == period) {
            since = 0;
            acc = CompensatedSum();
            const std::size_t b = t >= r ? t - r : 0, e = std::min(m, t + r + 1);
            for (std::size_t j = b; j < e; ++j) acc.add(seq[j]);
        } else {
            if (t + r < m) acc.add(seq[t + r]);
            if (t >= r + 1) acc.add(-seq[t - r - 1]);
        }
        out[t] = acc.value();
    }
}

template <class L>
double hcalibration_loss_grad(const double* P, const L* y, std::size_t n, std::size_t K, std::size_t window,
                              double eps, int weighting, bool leave_one_out, double scale, double* grad) {
    if (n == 0 || K < 2) throw std::invalid_argument("h-calibration needs n >= 1 rows and K >= 2 classes");
    if (window % 2 != 0) throw std::invalid_argument("h-calibration window must be an even number");
    if (weighting != kHcalUnweighted && weighting != kHcalAce)
        throw std::invalid_argument("h-calibration weighting must be 0 (unweighted) or 1 (ace)");
    const std::size_t M = n * K;
    if (M >= (std::size_t(1) << 32)) throw std::invalid_argument("h-calibration supports fewer than 2^32 events");
    for (std::size_t i = 0; i < n; ++i)
        if (static_cast<long long>(y[i]) < 0 || static_cast<long long>(y[i]) >= static_cast<long long>(K))
            throw std::invalid_argument("h-calibration labels must lie in [0, K) (first bad index " +
                                        std::to_string(i) + ")");
    for (std::size_t e = 0; e < M; ++e)
        if (!(P[e] >= 0.0 && P[e] <= 1.0))
            throw std::invalid_argument("h-calibration probabilities must lie in [0, 1] (first bad flat index " +
                                        std::to_string(e) + ")");
    // (key, index) pairs sorted by key then index: a stable order, sorted contiguously
    std::vector<std::pair<double, std::uint32_t>> keyed(M);
    for (std::size_t e = 0; e < M; ++e) keyed[e] = {P[e] + 1e-20, static_cast<std::uint32_t>(e)};
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::uint32_t> order(M);
    for (std::size_t t = 0; t < M; ++t) order[t] = keyed[t].second;

    // ace bins: closed intervals [b * (1/15), (b + 1) * (1/15)], the last edge exactly 1
    double edges[kHcalBins + 1];
    const double stepb = 1.0 / kHcalBins;
    for (int b = 0; b <= kHcalBins; ++b) edges[b] = b * stepb;
    edges[kHcalBins] = 1.0;
    auto bins_of = [&](double p, int& first, int& count) {
        int j = static_cast<int>(p * kHcalBins);
        if (j > kHcalBins - 1) j = kHcalBins - 1;
        first = -1;
        count = 0;
        for (int b = std::max(0, j - 1); b <= std::min(kHcalBins - 1, j + 1); ++b) {
            if (edges[b] <= p && p <= edges[b + 1]) {
                if (first < 0) first = b;
                ++count;
            }
        }
    };

    const std::size_t subsets = leave_one_out ? K : 1;
    const std::size_t r = window / 2;
    const double inv_w = 1.0 / static_cast<double>(window + 1);
    if (grad) std::fill(grad, grad + M, 0.0);
    std::vector<double> v, D, g, G, omega;
    std::vector<std::uint32_t> members;
    members.reserve(M);
    double total = 0.0;
    for (std::size_t c = 0; c < subsets; ++c) {
        members.clear();
        for (std::size_t t = 0; t < M; ++t) {
            const std::uint32_t e = order[t];
            if (!leave_one_out || static_cast<std::size_t>(y[e / K]) != c) members.push_back(e);
        }
        const std::size_t m = members.size();
        if (m == 0)
            throw std::invalid_argument(
                "h-calibration: a leave-one-class-out subset is empty (every label is the same class)");
        v.resize(m);
        for (std::size_t t = 0; t < m; ++t) {
            const std::uint32_t e = members[t];
            const double o = static_cast<std::size_t>(y[e / K]) == e % K ? 1.0 : 0.0;
            v[t] = P[e] - o;
        }
        centered_window_sum(v, r, D);
        omega.assign(m, 1.0 / static_cast<double>(m));
        if (weighting == kHcalAce) {
            double nb[kHcalBins] = {0};
            for (std::size_t t = 0; t < m; ++t) {
                int first, count;
                bins_of(P[members[t]], first, count);
                for (int b = first; b < first + count; ++b) nb[b] += 1.0;
            }
            for (std::size_t t = 0; t < m; ++t) {
                int first, count;
                bins_of(P[members[t]], first, count);
                double wsum = 0.0;
                for (int b = first; b < first + count; ++b) wsum += 1.0 / (nb[b] + 1e-5);
                omega[t] = wsum / kHcalBins;
            }
        }
        double Ls = 0.0;
        g.assign(m, 0.0);
        for (std::size_t t = 0; t < m; ++t) {
            const double d = D[t] * inv_w;
            const double excess = std::fabs(d) - eps;
            if (excess > 0.0) {
                Ls += omega[t] * excess;
                g[t] = d > 0.0 ? omega[t] : -omega[t];
            }
        }
        total += Ls;
        if (grad) {
            centered_window_sum(g, r, G);
            const double f = scale * inv_w / static_cast<double>(subsets);
            for (std::size_t t = 0; t < m; ++t) grad[members[t]] += f * G[t];
        }
    }
    return scale * total / static_cast<double>(subsets);
}

}  // namespace calipers
