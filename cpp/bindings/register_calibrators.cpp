// Bindings of the calibrator kernels: fits (temperature, logistic passes, isotonic) and
// batch transforms. Every O(n) loop runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <stdexcept>
#include <vector>

#include "arrays.hpp"
#include "calipers/isotonic.hpp"
#include "calipers/logistic.hpp"
#include "calipers/temperature.hpp"
#include "calipers/transforms.hpp"

namespace py = pybind11;
using namespace calipers;
using namespace calipers_bindings;

namespace {

const double* optional_weights(const py::object& w, std::size_t n) {
    if (w.is_none()) return nullptr;
    if (!py::isinstance<py::array>(w)) throw py::type_error("sample_weight must be None or a float64 array");
    const auto arr = py::cast<py::array>(w);
    require_size(arr, "sample_weight", static_cast<py::ssize_t>(n), "one entry per row");
    return f64(arr, "sample_weight");
}

py::array_t<double> empty_like_1d(std::size_t n) { return py::array_t<double>(static_cast<py::ssize_t>(n)); }

struct LogitsShape {
    std::size_t n, K;
    const double* weights;
};

LogitsShape logits_shape(const py::array& logits, const py::array& labels, const py::object& w) {
    require_ndim(logits, "logits", 2);
    require_ndim(labels, "labels", 1);
    const auto n = static_cast<std::size_t>(logits.shape(0)), K = static_cast<std::size_t>(logits.shape(1));
    if (static_cast<std::size_t>(labels.shape(0)) != n)
        throw std::invalid_argument("logits and labels must have the same number of rows");
    return {n, K, optional_weights(w, n)};
}

// Runs body(z, y, weights, n, K) on checked logits and labels with the GIL released.
template <class Body>
void with_logits(const py::array& logits, const py::array& labels, const py::object& w, Body&& body) {
    const auto [n, K, wp] = logits_shape(logits, labels, w);
    dispatch(
        logits, labels,
        [&](auto* z, auto* y) {
            py::gil_scoped_release release;
            check_temperature_input(z, y, wp, n, K);
            body(z, y, wp, n, K);
        },
        "logits");
}

py::tuple py_temperature_stats(const py::array& logits, const py::array& labels, const py::object& w, double beta) {
    TemperatureStats s;
    with_logits(logits, labels, w, [&](auto* z, auto* y, const double* wp, std::size_t n, std::size_t K) {
        s = temperature_stats(z, y, wp, n, K, beta);
    });
    return py::make_tuple(s.nll, s.grad, s.hess, s.weight);
}

py::tuple py_temperature_fit(const py::array& logits, const py::array& labels, const py::object& w) {
    if (logits.ndim() == 2 && logits.shape(0) == 0)
        throw std::invalid_argument("logits is empty: at least one row is needed");
    TemperatureFit fit;
    with_logits(logits, labels, w, [&](auto* z, auto* y, const double* wp, std::size_t n, std::size_t K) {
        fit = fit_temperature_warm(
            [&](double beta, std::size_t stride) { return temperature_stats(z, y, wp, n, K, beta, stride); }, n);
    });
    return py::make_tuple(fit.beta, fit.iterations, fit.converged);
}

py::tuple py_logistic_stats(const py::array& X, const py::array& y, const py::object& w, const py::array& theta) {
    require_ndim(X, "X", 2);
    if (X.shape(1) < 1 || X.shape(1) >= kMaxLogisticDim) throw std::invalid_argument("X must be (n, d) with 1 <= d <= 3");
    const auto n = static_cast<std::size_t>(X.shape(0)), d = static_cast<std::size_t>(X.shape(1));
    if (static_cast<std::size_t>(y.size()) != n || static_cast<std::size_t>(theta.size()) != d + 1)
        throw std::invalid_argument("y or theta has the wrong length");
    const double* xp = f64(X, "X");
    const double* yp = f64(y, "y");
    const double* tp = f64(theta, "theta");
    const double* wp = optional_weights(w, n);
    LogisticStats s;
    {
        py::gil_scoped_release release;
        s = logistic_stats(xp, yp, wp, n, d, tp);
    }
    const std::size_t m = d + 1;
    py::array_t<double> grad(static_cast<py::ssize_t>(m));
    py::array_t<double> hess({static_cast<py::ssize_t>(m), static_cast<py::ssize_t>(m)});
    for (std::size_t j = 0; j < m; ++j) {
        grad.mutable_data()[j] = s.grad[j];
        for (std::size_t k = 0; k < m; ++k) hess.mutable_data()[j * m + k] = s.hess[j * m + k];
    }
    return py::make_tuple(s.loss, grad, hess);
}

py::tuple py_isotonic_fit(const py::array& x, const py::array& y, const py::array& w, double resolution) {
    const auto n = static_cast<std::size_t>(x.size());
    if (static_cast<std::size_t>(y.size()) != n || static_cast<std::size_t>(w.size()) != n)
        throw std::invalid_argument("x, y and sample_weight must have the same length");
    const double* xp = f64(x, "x");
    const double* yp = f64(y, "y");
    const double* wp = f64(w, "sample_weight");
    require_sorted(xp, n, "x");
    if (!(resolution >= 0.0)) throw std::invalid_argument("resolution must be >= 0");
    for (std::size_t i = 0; i < n; ++i)
        if (!(std::isfinite(wp[i]) && wp[i] > 0.0) || !std::isfinite(yp[i]))
            throw std::invalid_argument("isotonic_fit needs finite y and finite positive weights (index " +
                                        std::to_string(i) + ")");
    std::vector<double> ux(n), uy(n), uw(n);
    std::size_t m = 0;
    {
        py::gil_scoped_release release;
        m = merge_ties(xp, yp, wp, n, resolution, ux.data(), uy.data(), uw.data());
        isotonic_pav(uy.data(), uw.data(), m);
    }
    auto ox = empty_like_1d(m), oy = empty_like_1d(m);
    std::copy(ux.begin(), ux.begin() + static_cast<std::ptrdiff_t>(m), ox.mutable_data());
    std::copy(uy.begin(), uy.begin() + static_cast<std::ptrdiff_t>(m), oy.mutable_data());
    return py::make_tuple(ox, oy);
}

py::array_t<double> py_platt_transform(const py::array& p, double a, double b, double clip) {
    const double* pp = f64(p, "scores");
    const auto n = static_cast<std::size_t>(p.size());
    auto out = empty_like_1d(n);
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    platt_transform(pp, n, a, b, clip, o);
    return out;
}

py::array_t<double> py_beta_transform(const py::array& p, double a, double b, double c, double eps) {
    const double* pp = f64(p, "scores");
    const auto n = static_cast<std::size_t>(p.size());
    auto out = empty_like_1d(n);
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    beta_transform(pp, n, a, b, c, eps, o);
    return out;
}

py::array_t<double> py_interp(const py::array& x, const py::array& xp, const py::array& fp) {
    const double* xv = f64(x, "scores");
    const double* xpv = f64(xp, "xp");
    const double* fpv = f64(fp, "fp");
    const auto n = static_cast<std::size_t>(x.size()), m = static_cast<std::size_t>(xp.size());
    if (m == 0 || static_cast<std::size_t>(fp.size()) != m)
        throw std::invalid_argument("xp and fp must be non-empty and equal in length");
    require_sorted(xpv, m, "xp");
    auto out = empty_like_1d(n);
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    interp_clip(xv, n, xpv, fpv, m, o);
    return out;
}

py::array_t<double> py_bin_lookup(const py::array& x, const py::array& cuts, const py::array& values, bool right_closed) {
    const double* xv = f64(x, "scores");
    const double* cv = f64(cuts, "cuts");
    const double* vv = f64(values, "values");
    const auto n = static_cast<std::size_t>(x.size());
    const auto nv = static_cast<std::size_t>(values.size());
    if (nv == 0) throw std::invalid_argument("values must be non-empty");
    require_sorted(cv, static_cast<std::size_t>(cuts.size()), "cuts");
    auto out = empty_like_1d(n);
    double* o = out.mutable_data();
    const auto nc = static_cast<std::size_t>(cuts.size());
    py::gil_scoped_release release;
    bin_lookup(xv, n, cv, nc, vv, nv, right_closed, o);
    return out;
}

py::array_t<double> py_softmax_scaled(const py::array& logits, double beta) {
    require_ndim(logits, "logits", 2);
    const py::ssize_t width = require_float(logits, "logits");
    const auto n = static_cast<std::size_t>(logits.shape(0)), K = static_cast<std::size_t>(logits.shape(1));
    if (K < 1) throw std::invalid_argument("logits must have at least one column");
    py::array_t<double> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(K)});
    double* o = out.mutable_data();
    NonFinite bad;
    if (width == 8) {
        const auto* z = static_cast<const double*>(logits.data());
        py::gil_scoped_release release;
        bad = softmax_scaled(z, n, K, beta, o);
    } else {
        const auto* z = static_cast<const float*>(logits.data());
        py::gil_scoped_release release;
        bad = softmax_scaled(z, n, K, beta, o);
    }
    if (bad.count)
        throw std::invalid_argument("logits must be finite: " + std::to_string(bad.count) +
                                    " value(s) are not, first at row " + std::to_string(bad.first / K) +
                                    ", column " + std::to_string(bad.first % K));
    return out;
}

}  // namespace

void register_calibrators(py::module_& m) {
    m.def("temperature_stats", &py_temperature_stats, py::arg("logits"), py::arg("labels"), py::arg("weights"),
          py::arg("beta"));
    m.def("temperature_fit", &py_temperature_fit, py::arg("logits"), py::arg("labels"), py::arg("weights"));
    m.def("logistic_stats", &py_logistic_stats, py::arg("X"), py::arg("y"), py::arg("weights"), py::arg("theta"));
    m.def("isotonic_fit", &py_isotonic_fit, py::arg("x"), py::arg("y"), py::arg("weights"), py::arg("resolution"));
    m.def("platt_transform", &py_platt_transform, py::arg("scores"), py::arg("a"), py::arg("b"), py::arg("clip"));
    m.def("beta_transform", &py_beta_transform, py::arg("scores"), py::arg("a"), py::arg("b"), py::arg("c"),
          py::arg("eps"));
    m.def("interp", &py_interp, py::arg("scores"), py::arg("xp"), py::arg("fp"));
    m.def("bin_lookup", &py_bin_lookup, py::arg("scores"), py::arg("cuts"), py::arg("values"), py::arg("right_closed"));
    m.def("softmax_scaled", &py_softmax_scaled, py::arg("logits"), py::arg("beta"));
}
