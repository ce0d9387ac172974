// pybind11 bindings of the sketch kernels: convert and check arrays, release the GIL around
// O(n) loops, map errors (std::invalid_argument -> ValueError, py::type_error -> TypeError).
// The Python layer (calipers._common.validate) checks first; every check the core relies on
// is repeated here or in the core, so calipers._core is safe to call on its own.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "arrays.hpp"
#include "calipers/binned_stats.hpp"
#include "calipers/bootstrap.hpp"
#include "calipers/sketch.hpp"
#include "calipers/thread_pool.hpp"
#include "calipers/validate.hpp"

namespace py = pybind11;
using namespace calipers;
using namespace calipers_bindings;

namespace {

py::tuple to_tuple(const Violations& v) {
    py::list counts, firsts;
    for (int r = 0; r < kNumRules; ++r) {
        counts.append(v.count[r]);
        firsts.append(v.first[r]);
    }
    return py::make_tuple(py::tuple(counts), py::tuple(firsts));
}

std::size_t rows_of(const py::array& scores) { return static_cast<std::size_t>(scores.shape(0)); }

// (n, K) scores with K >= 1; returns K.
std::size_t classes_of(const py::array& scores) {
    require_ndim(scores, "scores", 2);
    if (scores.shape(1) < 1) throw std::invalid_argument("scores must have at least one column");
    return static_cast<std::size_t>(scores.shape(1));
}

void check_lengths(const py::array& scores, const py::array& labels) {
    require_ndim(labels, "labels", 1);
    if (labels.shape(0) != scores.shape(0))
        throw std::invalid_argument("scores and labels must have the same length, got " +
                                    std::to_string(scores.shape(0)) + " and " + std::to_string(labels.shape(0)));
}

// (count int64, sum float64, sum float64) arrays of n zeros, filled by fill(p, y, c, s1, s2)
// with the GIL released: the shape of the per-bin statistics kernels.
template <class Fill>
py::tuple count_and_sums(const py::array& scores, const py::array& labels, std::int64_t n, Fill&& fill) {
    auto count = zeros<std::int64_t>(n);
    auto first = zeros<double>(n), second = zeros<double>(n);
    auto* c = count.mutable_data();
    auto* s1 = first.mutable_data();
    auto* s2 = second.mutable_data();
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        fill(p, y, c, s1, s2);
    });
    return py::make_tuple(count, first, second);
}

py::tuple py_validate_binary(const py::array& scores, const py::array& labels) {
    require_ndim(scores, "scores", 1);
    check_lengths(scores, labels);
    Violations v;
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        v = validate_binary(p, y, rows_of(scores));
    });
    return to_tuple(v);
}

py::tuple py_validate_probs(const py::array& scores, const py::array& labels, double atol, bool check_rows) {
    const std::size_t K = classes_of(scores);
    check_lengths(scores, labels);
    Violations v;
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        v = validate_probs(p, y, rows_of(scores), K, atol, check_rows);
    });
    return to_tuple(v);
}

// kind: 0 = 1-D binary, 1 = top-label (n, K), 2 = marginal (n, K). The core checks the
// layout and the values and spreads large batches over the pool (sketch.hpp).
void py_accumulate(py::array acc, std::int64_t bins, std::int64_t streams, int parts, const py::array& scores,
                   const py::array& labels, int kind) {
    // Written in place: no conversion may produce a silent copy.
    if (acc.dtype().kind() != 'u' || acc.itemsize() != 8 || !(acc.flags() & py::array::c_style) || !acc.writeable())
        throw py::type_error("acc must be a writeable C-contiguous uint64 array");
    require_native(acc, "acc");
    require_ndim(scores, "scores", kind == kBinary ? 1 : 2);
    check_lengths(scores, labels);
    const std::size_t K = kind == kBinary ? 0 : static_cast<std::size_t>(scores.shape(1));
    auto* data = static_cast<std::uint64_t*>(acc.mutable_data());
    const auto words = static_cast<std::size_t>(acc.size());
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        accumulate(data, words, SketchLayout{bins, streams}, parts, p, y, rows_of(scores), K, kind);
    });
}

py::tuple py_binned_stats_edges(const py::array& scores, const py::array& labels, const py::array& cuts,
                                bool right_closed, std::int64_t nbins) {
    require_ndim(scores, "scores", 1);
    require_ndim(cuts, "cuts", 1);
    if (nbins < 1 || nbins > kMaxBins) throw std::invalid_argument("nbins must lie in [1, 1000000]");
    check_lengths(scores, labels);
    const double* cp = f64(cuts, "cuts");
    const auto ncuts = static_cast<std::size_t>(cuts.size());
    require_sorted(cp, ncuts, "cuts");
    return count_and_sums(scores, labels, nbins, [&](auto* p, auto* y, std::int64_t* c, double* sx, double* sy) {
        binned_stats_edges(p, y, rows_of(scores), cp, ncuts, right_closed, nbins, c, sx, sy);
    });
}

py::tuple py_unit_stats(const py::array& scores, const py::array& labels, std::int64_t bins) {
    require_ndim(scores, "scores", 1);
    if (bins < 1 || bins > kMaxBins) throw std::invalid_argument("bins must lie in [1, 1000000]");
    check_lengths(scores, labels);
    return count_and_sums(scores, labels, 2 * bins, [&](auto* p, auto* y, std::int64_t* c, double* s, double* q) {
        unit_stats(p, y, rows_of(scores), bins, c, s, q);
    });
}

py::tuple py_top_label(const py::array& scores, const py::array& labels) {
    const std::size_t K = classes_of(scores);
    check_lengths(scores, labels);
    const auto n = static_cast<py::ssize_t>(rows_of(scores));
    py::array_t<double> conf(n);
    py::array_t<std::int8_t> correct(n);
    auto* cp = conf.mutable_data();
    auto* kp = correct.mutable_data();
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        top_label(p, y, static_cast<std::size_t>(n), K, cp, kp);
    });
    return py::make_tuple(conf, correct);
}

// Element-wise test hooks (the numpy and Numba backends expose the same array functions).
py::array_t<double> py_det_log(const py::array& x) {
    const double* xp = f64(x, "x");
    const auto n = static_cast<py::ssize_t>(x.size());
    py::array_t<double> out(n);
    auto* o = out.mutable_data();
    for (py::ssize_t i = 0; i < n; ++i) {
        if (!(xp[i] > 0.0) || !std::isfinite(xp[i]))
            throw std::invalid_argument("det_log needs finite positive x, got " + format_double(xp[i]) + " at index " +
                                        std::to_string(i));
        o[i] = det_log(xp[i]);
    }
    return out;
}

py::array_t<std::int64_t> py_fine_cell(const py::array& p) {
    const double* pp = f64(p, "p");
    const auto n = static_cast<py::ssize_t>(p.size());
    if (!all_in_unit_interval(pp, static_cast<std::size_t>(n)))
        throw std::invalid_argument("fine_cell needs p in [0, 1]");
    py::array_t<std::int64_t> out(n);
    auto* o = out.mutable_data();
    for (py::ssize_t i = 0; i < n; ++i) o[i] = fine_cell(pp[i]);
    return out;
}

}  // namespace

void register_calibrators(py::module_& m);
void register_logscan(py::module_& m);
void register_knn(py::module_& m);
void register_monitor(py::module_& m);
void register_debias(py::module_& m);
void register_fused(py::module_& m);

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "calipers C++ kernels (private; use the calipers package)";
    m.attr("GRID_CELLS") = kGridCells;
    m.attr("GRID_OCTAVES") = kGridOctaves;
    m.attr("GRID_SUB_BITS") = kGridSubBits;
    m.def("validate_binary", &py_validate_binary, py::arg("scores"), py::arg("labels"));
    m.def("validate_probs", &py_validate_probs, py::arg("scores"), py::arg("labels"), py::arg("atol"),
          py::arg("check_rows"));
    m.def("accumulate", &py_accumulate, py::arg("acc"), py::arg("bins"), py::arg("streams"), py::arg("parts"),
          py::arg("scores"), py::arg("labels"), py::arg("kind"));
    m.def("binned_stats_edges", &py_binned_stats_edges, py::arg("scores"), py::arg("labels"), py::arg("cuts"),
          py::arg("right_closed"), py::arg("nbins"));
    m.def("top_label", &py_top_label, py::arg("scores"), py::arg("labels"));
    m.def("unit_stats", &py_unit_stats, py::arg("scores"), py::arg("labels"), py::arg("bins"));
    m.def("det_log", &py_det_log, py::arg("x"));
    m.def("fine_cell", &py_fine_cell, py::arg("p"));
    m.def("set_num_threads", [](unsigned n) { set_num_threads(n); }, py::arg("n"),
          "Bound the process-wide pool to n threads (the caller included).");
    m.def("get_num_threads", []() { return num_threads(); });
    m.def("pool_workers", []() { return ThreadPool::instance().started_workers(); },
          "Worker threads the pool has started (at most get_num_threads() - 1).");
    register_calibrators(m);
    register_logscan(m);
    register_knn(m);
    register_monitor(m);
    register_debias(m);
    register_fused(m);
#ifdef CALIPERS_VERSION_INFO
#define CALIPERS_STR(x) #x
#define CALIPERS_XSTR(x) CALIPERS_STR(x)
    m.attr("__version__") = CALIPERS_XSTR(CALIPERS_VERSION_INFO);
#endif
}
