// pybind11 bindings: convert arrays, release the GIL around O(n) loops, map errors.
// The Python layer (calipers._validate) has already checked kinds, shapes and
// contiguity; the checks here are defence in depth.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "calipers/binned_stats.hpp"
#include "calipers/bootstrap.hpp"
#include "calipers/parallel.hpp"
#include "calipers/sketch.hpp"
#include "calipers/validate.hpp"
#include "arrays.hpp"

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

std::size_t classes_of(const py::array& scores) {
    if (scores.ndim() != 2) throw std::invalid_argument("scores must be 2-D (n, K)");
    return static_cast<std::size_t>(scores.shape(1));
}

void check_lengths(const py::array& scores, const py::array& labels) {
    if (labels.ndim() != 1 || labels.shape(0) != scores.shape(0))
        throw std::invalid_argument("scores and labels must have the same number of rows");
}

py::tuple py_validate_binary(const py::array& scores, const py::array& labels) {
    if (scores.ndim() != 1) throw std::invalid_argument("scores must be 1-D");
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

// kind: 0 = 1-D binary, 1 = top-label (n, K), 2 = marginal (n, K).
void py_accumulate(py::array acc, std::int64_t bins,
                   std::int64_t streams, int parts, const py::array& scores, const py::array& labels,
                   int kind) {
    const SketchLayout layout{bins, streams};
    // Written in place: no conversion may produce a silent copy.
    if (acc.dtype().kind() != 'u' || acc.itemsize() != 8 || !(acc.flags() & py::array::c_style) ||
        !acc.writeable())
        throw py::type_error("acc must be a writeable C-contiguous uint64 array");
    if (bins < 1 || streams < 1 || acc.size() != layout.size())
        throw std::invalid_argument("accumulator size does not match bins and streams");
    check_lengths(scores, labels);
    const std::size_t K = kind == 0 ? 1 : classes_of(scores);
    if (kind == 2 && static_cast<std::int64_t>(K) != streams)
        throw std::invalid_argument("marginal accumulation needs one stream per class");
    if (kind != 2 && streams != 1) throw std::invalid_argument("binary/top-label accumulation has one stream");
    auto* data = static_cast<std::uint64_t*>(acc.mutable_data());
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        const std::size_t n = rows_of(scores);
        const std::size_t stride = kind == 0 ? 1 : K;
        auto run = [&](std::uint64_t* target, std::size_t begin, std::size_t end) {
            SketchAccumulator a(target, layout, parts);
            if (kind == 0) accumulate_binary(a, p + begin, y + begin, end - begin);
            else if (kind == 1) accumulate_top_label(a, p + begin * stride, y + begin, end - begin, K);
            else accumulate_marginal(a, p + begin * stride, y + begin, end - begin, K);
        };
        // Large batches: each core fills its own zeroed state, then the states are added.
        // The sums are exact integers, so the result is the same bytes for any split.
        const unsigned threads = n * stride >= (std::size_t(1) << 18) ? worker_count(n / 65536 + 1) : 1;
        if (threads <= 1) {
            run(data, 0, n);
            return;
        }
        const auto size = static_cast<std::size_t>(layout.size());
        std::vector<std::vector<std::uint64_t>> partial(threads - 1, std::vector<std::uint64_t>(size, 0));
        std::vector<std::thread> pool;
        const std::size_t chunk = (n + threads - 1) / threads;
        for (unsigned t = 1; t < threads; ++t) {
            const std::size_t begin = std::min(n, t * chunk), end = std::min(n, (t + 1) * chunk);
            pool.emplace_back([&, t, begin, end] { run(partial[t - 1].data(), begin, end); });
        }
        run(data, 0, std::min(n, chunk));
        for (auto& th : pool) th.join();
        for (const auto& part : partial) merge_state(data, part.data(), layout);
    });
}

py::tuple py_binned_stats_edges(const py::array& scores, const py::array& labels,
                                py::array_t<double, py::array::c_style | py::array::forcecast> cuts,
                                bool right_closed, std::int64_t nbins) {
    if (scores.ndim() != 1) throw std::invalid_argument("scores must be 1-D");
    if (nbins < 1) throw std::invalid_argument("nbins must be >= 1");
    check_lengths(scores, labels);
    auto count = zeros<std::int64_t>(nbins);
    auto sum_x = zeros<double>(nbins), sum_y = zeros<double>(nbins);
    auto* c = count.mutable_data();
    auto* sx = sum_x.mutable_data();
    auto* sy = sum_y.mutable_data();
    const double* cp = cuts.data();
    const auto ncuts = static_cast<std::size_t>(cuts.size());
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        binned_stats_edges(p, y, rows_of(scores), cp, ncuts, right_closed, nbins, c, sx, sy);
    });
    return py::make_tuple(count, sum_x, sum_y);
}

py::tuple py_unit_stats(const py::array& scores, const py::array& labels, std::int64_t bins) {
    if (scores.ndim() != 1) throw std::invalid_argument("scores must be 1-D");
    if (bins < 1) throw std::invalid_argument("bins must be >= 1");
    check_lengths(scores, labels);
    const auto units = static_cast<py::ssize_t>(2 * bins);
    auto count = zeros<std::int64_t>(units);
    auto sum = zeros<double>(units), sumsq = zeros<double>(units);
    auto* c = count.mutable_data();
    auto* s = sum.mutable_data();
    auto* q = sumsq.mutable_data();
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        unit_stats(p, y, rows_of(scores), bins, c, s, q);
    });
    return py::make_tuple(count, sum, sumsq);
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

}  // namespace

void register_calibrators(py::module_& m);
void register_logscan(py::module_& m);
void register_knn(py::module_& m);
void register_debias(py::module_& m);

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
    register_calibrators(m);
    register_logscan(m);
    register_knn(m);
    register_debias(m);
    m.def("det_log", [](double x) { return det_log(x); }, py::arg("x"));
    m.def("fine_cell", [](double p) { return fine_cell(p); }, py::arg("p"));
#ifdef CALIPERS_VERSION_INFO
#define CALIPERS_STR(x) #x
#define CALIPERS_XSTR(x) CALIPERS_STR(x)
    m.attr("__version__") = CALIPERS_XSTR(CALIPERS_VERSION_INFO);
#endif
}
