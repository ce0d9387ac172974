// Binning, validation messages, the temperature checks, neighbours and the transforms.
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "calipers/binned_stats.hpp"
#include "calipers/binning.hpp"
#include "calipers/bootstrap.hpp"
#include "calipers/isotonic.hpp"
#include "calipers/knn.hpp"
#include "calipers/temperature.hpp"
#include "calipers/transforms.hpp"
#include "calipers/tweedie.hpp"
#include "calipers/validate.hpp"
#include "check.hpp"

using namespace calipers;

TEST(equal_width_edges_are_exact) {
    const EqualWidth w(15);
    CHECK(w.index(0.0) == 0);
    CHECK(w.index(1.0) == 14);
    for (int i = 1; i < 15; ++i) {
        const double edge = static_cast<double>(i) / 15.0;
        CHECK(w.index(edge) == i);
        CHECK(w.index(std::nextafter(edge, 0.0)) == i - 1);
    }
}

TEST(fine_cells_ascend_and_resolve_the_ends) {
    std::int64_t last = -1;
    for (int i = 0; i <= 100000; ++i) {
        const std::int64_t c = fine_cell(static_cast<double>(i) / 100000.0);
        CHECK(c >= last);
        last = c;
    }
    CHECK(fine_cell(0.0) == 0);
    CHECK(fine_cell(1.0) == kGridCells - 1);
    CHECK(fine_cell(0.999) != fine_cell(0.9999));
}

TEST(validation_messages_name_rule_count_and_first_index) {
    const double p[] = {0.5, 1.5, std::numeric_limits<double>::quiet_NaN(), 2.0};
    const std::int8_t y[] = {0, 1, 1, 3};
    const Violations v = validate_binary(p, y, 4);
    CHECK(v.count[kScoreNaN] == 1 && v.first[kScoreNaN] == 2);
    CHECK(v.count[kScoreRange] == 2 && v.first[kScoreRange] == 1);
    CHECK(v.count[kLabelRange] == 1 && v.first[kLabelRange] == 3);
    try {
        require_valid_binary(p, y, 4);
        CHECK(false);
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) ==
              "scores must not contain NaN: 1 NaN value(s), first at index 2 (value nan); drop those rows "
              "(nan_policy='omit' does it where a function takes that option)");
    }
    CHECK(format_double(1.5) == "1.5");
    CHECK(format_double(1.0) == "1.0");
    CHECK(format_double(1e300) == "1e+300");
}

TEST(unit_stats_refuses_what_it_cannot_bin) {
    const double p[] = {0.5, std::numeric_limits<double>::quiet_NaN()};
    const std::int8_t y[] = {0, 1};
    std::vector<std::int64_t> count(30);
    std::vector<double> sum(30), sumsq(30);
    CHECK_THROWS(unit_stats(p, y, 2, 15, count.data(), sum.data(), sumsq.data()), std::invalid_argument);
    CHECK_THROWS(unit_stats(p, y, 1, 0, count.data(), sum.data(), sumsq.data()), std::invalid_argument);
    unit_stats(p, y, 1, 15, count.data(), sum.data(), sumsq.data());
    CHECK(count[14] == 1);
}

TEST(temperature_refuses_labels_that_would_index_outside_a_row) {
    const double z[] = {1.0, 2.0, 0.5, 0.1};
    const std::int64_t bad[] = {0, 2};
    const std::int64_t good[] = {0, 1};
    CHECK_THROWS(check_temperature_input(z, bad, nullptr, 2, 2), std::invalid_argument);
    const std::int64_t negative[] = {-1, 1};
    CHECK_THROWS(check_temperature_input(z, negative, nullptr, 2, 2), std::invalid_argument);
    const double w[] = {1.0, -1.0};
    CHECK_THROWS(check_temperature_input(z, good, w, 2, 2), std::invalid_argument);
    check_temperature_input(z, good, nullptr, 2, 2);
    const auto fit = fit_temperature_warm(
        [&](double beta, std::size_t stride) { return temperature_stats(z, good, nullptr, 2, 2, beta, stride); }, 2);
    CHECK(std::isfinite(fit.beta));
}

TEST(knn_ties_go_to_the_smaller_index_and_exclude_works) {
    const double X[] = {0.0, 1.0, 1.0, 2.0};  // 4 points in 1-D; 1.0 appears twice
    const double Q[] = {1.0};
    std::int64_t index[3];
    double dist[3];
    knn_sqeuclidean(Q, 1, X, 4, 1, 3, nullptr, index, dist);
    CHECK(index[0] == 1 && index[1] == 2 && index[2] == 0);
    const std::int64_t exclude[] = {1};
    knn_sqeuclidean(Q, 1, X, 4, 1, 3, exclude, index, dist);
    CHECK(index[0] == 2 && index[1] == 0 && index[2] == 3);
    const std::int64_t none[] = {-1};
    knn_sqeuclidean(Q, 1, X, 4, 1, 3, none, index, dist);
    CHECK(index[0] == 1);
}

TEST(interp_nan_in_nan_out_and_clipping) {
    const double xp[] = {0.0, 0.5, 1.0};
    const double fp[] = {0.0, 0.2, 1.0};
    const double x[] = {std::numeric_limits<double>::quiet_NaN(), -1.0, 0.25, 2.0};
    double out[4];
    interp_clip(x, 4, xp, fp, 3, out);
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 0.0 && out[3] == 1.0);
    CHECK(std::fabs(out[2] - 0.1) < 1e-15);
}

TEST(isotonic_is_monotone) {
    std::vector<double> y = {0.9, 0.1, 0.5, 0.4, 1.0};
    const std::vector<double> w(5, 1.0);
    isotonic_pav(y.data(), w.data(), y.size());
    for (std::size_t i = 1; i < y.size(); ++i) CHECK(y[i - 1] <= y[i]);
}

TEST(binned_stats_clamps_to_the_last_bin) {
    const double x[] = {-1.0, 0.5, 3.0};
    const std::int8_t y[] = {0, 1, 1};
    const double cuts[] = {0.25, 0.75};
    std::int64_t count[2] = {0, 0};
    double sx[2] = {0, 0}, sy[2] = {0, 0};
    binned_stats_edges(x, y, 3, cuts, 2, true, 2, count, sx, sy);
    CHECK(count[0] == 1 && count[1] == 2);
}

TEST(kde_score_stays_finite_far_from_the_points) {
    // nearest-point exponents: far away the score is (nearest - q) / h^2, never an empty sum
    const std::vector<double> x = {-1.0, 0.0, 0.0, 2.0};
    const std::vector<double> q = {1e8, 1e12, -1e12, 1e100, 1.0};
    std::vector<double> log_sum(q.size()), score(q.size());
    kde_score(x.data(), nullptr, x.size(), 0.5, q.data(), q.size(), log_sum.data(), score.data());
    const double nearest[] = {2.0, 2.0, -1.0, 2.0};
    for (std::size_t j = 0; j < 4; ++j) {
        CHECK(std::isfinite(score[j]));
        CHECK(std::fabs(score[j] - (nearest[j] - q[j]) / 0.25) <= 1e-15 * std::fabs(score[j]));
    }
    for (std::size_t j = 0; j < 3; ++j) CHECK(std::isfinite(log_sum[j]));
    // between the points: the plain sum (0 at distance 1 holds twice the mass of 2)
    const double e0 = 2.0 * std::exp(-2.0), e2 = std::exp(-2.0), em1 = std::exp(-8.0);
    const double ref = (-e0 + e2 - 2.0 * em1) / ((e0 + e2 + em1) * 0.25);
    CHECK(std::fabs(score[4] - ref) <= 1e-14 * std::fabs(ref));
}
