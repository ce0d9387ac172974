// Bindings of the downstream-debiasing kernels: exact Gaussian KDE scores, linear binning
// and grid interpolation for Tweedie's correction, and the h-calibration loss with its
// gradient. Each checks dtypes, contiguity and sizes itself and runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "calipers/hcalibration.hpp"
#include "calipers/tweedie.hpp"

namespace py = pybind11;
using namespace calipers;
using namespace calipers_bindings;

namespace {

const double* optional_f64(const py::object& w, std::size_t n, const char* name) {
    if (w.is_none()) return nullptr;
    const auto arr = py::cast<py::array>(w);
    if (arr.ndim() != 1 || static_cast<std::size_t>(arr.size()) != n)
        throw std::invalid_argument(std::string(name) + " must be 1-D with one value per support point");
    return f64(arr, name);
}

const double* vector_f64(const py::array& a, const char* name) {
    if (a.ndim() != 1) throw std::invalid_argument(std::string(name) + " must be 1-D");
    return f64(a, name);
}

py::tuple py_kde_score(const py::array& points, const py::object& weights, const py::array& queries, double h) {
    const double* x = vector_f64(points, "points");
    const double* q = vector_f64(queries, "queries");
    const auto n = static_cast<std::size_t>(points.size()), m = static_cast<std::size_t>(queries.size());
    const double* w = optional_f64(weights, n, "weights");
    auto log_sum = zeros<double>(static_cast<py::ssize_t>(m));
    auto score = zeros<double>(static_cast<py::ssize_t>(m));
    double* lp = log_sum.mutable_data();
    double* sp = score.mutable_data();
    {
        py::gil_scoped_release release;
        kde_score(x, w, n, h, q, m, lp, sp);
    }
    return py::make_tuple(log_sum, score);
}

py::array_t<double> py_linear_binning(const py::array& points, const py::object& weights, double lo, double step,
                                      std::int64_t cells) {
    const double* x = vector_f64(points, "points");
    const auto n = static_cast<std::size_t>(points.size());
    const double* w = optional_f64(weights, n, "weights");
    if (cells < 2) throw std::invalid_argument("cells must be >= 2");
    auto out = zeros<double>(static_cast<py::ssize_t>(cells));
    double* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        linear_binning(x, w, n, lo, step, static_cast<std::size_t>(cells), o);
    }
    return out;
}

py::array_t<double> py_grid_score(const py::array& queries, double lo, double step, const py::array& values,
                                  const py::array& slopes, double fd_delta) {
    const double* q = vector_f64(queries, "queries");
    const double* v = vector_f64(values, "values");
    const double* s = vector_f64(slopes, "slopes");
    const auto m = static_cast<std::size_t>(queries.size()), cells = static_cast<std::size_t>(values.size());
    if (static_cast<std::size_t>(slopes.size()) != cells)
        throw std::invalid_argument("values and slopes must have the same length");
    py::array_t<double> out(static_cast<py::ssize_t>(m));
    double* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        grid_score(q, m, lo, step, v, s, cells, fd_delta, o);
    }
    return out;
}

py::tuple py_hcalibration_loss_grad(const py::array& probs, const py::array& labels, std::int64_t window, double eps,
                                    int weighting, bool leave_one_out, double scale, bool want_grad) {
    if (probs.ndim() != 2) throw std::invalid_argument("probs must be 2-D (n, K)");
    if (labels.ndim() != 1 || labels.shape(0) != probs.shape(0))
        throw std::invalid_argument("probs and labels must have the same number of rows");
    if (window < 0) throw std::invalid_argument("window must be >= 0");
    const double* P = f64(probs, "probs");
    const auto n = static_cast<std::size_t>(probs.shape(0)), K = static_cast<std::size_t>(probs.shape(1));
    py::array_t<double> grad(want_grad ? std::vector<py::ssize_t>{static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(K)}
                                       : std::vector<py::ssize_t>{0});
    double* gp = want_grad ? grad.mutable_data() : nullptr;
    double loss = 0.0;
    dispatch(probs, labels, [&](auto*, auto* y) {
        py::gil_scoped_release release;
        loss = hcalibration_loss_grad(P, y, n, K, static_cast<std::size_t>(window), eps, weighting, leave_one_out,
                                      scale, gp);
    });
    return py::make_tuple(loss, grad);
}

}  // namespace

void register_debias(py::module_& m) {
    m.def("kde_score", &py_kde_score, py::arg("points"), py::arg("weights"), py::arg("queries"), py::arg("h"));
    m.def("linear_binning", &py_linear_binning, py::arg("points"), py::arg("weights"), py::arg("lo"),
          py::arg("step"), py::arg("cells"));
    m.def("grid_score", &py_grid_score, py::arg("queries"), py::arg("lo"), py::arg("step"), py::arg("values"),
          py::arg("slopes"), py::arg("fd_delta"));
    m.def("hcalibration_loss_grad", &py_hcalibration_loss_grad, py::arg("probs"), py::arg("labels"),
          py::arg("window"), py::arg("eps"), py::arg("weighting"), py::arg("leave_one_out"), py::arg("scale"),
          py::arg("want_grad"));
}
