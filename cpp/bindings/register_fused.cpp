// pybind11 bindings of the fused one-pass kernels (fused.hpp) and of the checked, weighted
// sketch update (sketch.hpp accumulate_checked): convert and check arrays, release the GIL
// around the O(n) loops. Every check the core relies on is made here or in the core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "arrays.hpp"
#include "calipers/fused.hpp"
#include "calipers/sketch.hpp"

namespace py = pybind11;
using namespace calipers;
using namespace calipers_bindings;

namespace {

void check_pair(const py::array& scores, const py::array& labels, int kind) {
    if (kind != kBinary && kind != kTopLabel && kind != kMarginal)
        throw std::invalid_argument("kind must be 0 (binary), 1 (top-label) or 2 (marginal)");
    require_ndim(scores, "scores", kind == kBinary ? 1 : 2);
    require_ndim(labels, "labels", 1);
    if (labels.shape(0) != scores.shape(0))
        throw std::invalid_argument("scores and labels must have the same length, got " +
                                    std::to_string(scores.shape(0)) + " and " + std::to_string(labels.shape(0)));
    if (kind != kBinary && scores.shape(1) < 1) throw std::invalid_argument("scores must have at least one column");
}

// None, or one native, contiguous float64 weight per row.
const double* weights_of(const py::object& weights, py::ssize_t n) {
    if (weights.is_none()) return nullptr;
    if (!py::isinstance<py::array>(weights)) throw py::type_error("sample_weight must be None or a float64 array");
    const auto w = py::reinterpret_borrow<py::array>(weights);
    require_ndim(w, "sample_weight", 1);
    require_size(w, "sample_weight", n, "one entry per row");
    return f64(w, "sample_weight");
}

py::array_t<std::uint64_t> py_binned_sums(const py::array& scores, const py::array& labels, const py::object& weights,
                                          std::int64_t bins, int kind, int parts, double atol, const py::object& cuts) {
    check_pair(scores, labels, kind);
    const auto n = static_cast<std::size_t>(scores.shape(0));
    FusedSpec spec;
    spec.bins = bins;
    spec.kind = kind;
    spec.parts = parts;
    spec.atol = atol;
    spec.K = kind == kBinary ? 0 : static_cast<std::size_t>(scores.shape(1));
    if (bins < 1 || bins > kMaxBins) throw std::invalid_argument("bins must lie in [1, 1000000]");
    if (!cuts.is_none()) {
        if (!py::isinstance<py::array>(cuts)) throw py::type_error("cuts must be None or a float64 array");
        const auto c = py::reinterpret_borrow<py::array>(cuts);
        require_ndim(c, "cuts", 1);
        require_size(c, "cuts", bins - 1, "bins - 1 entries");
        spec.cuts = f64(c, "cuts");
        require_sorted(spec.cuts, static_cast<std::size_t>(bins - 1), "cuts");
    }
    const double* w = weights_of(weights, scores.shape(0));
    const std::size_t streams = kind == kMarginal ? spec.K : 1;
    if (streams > (std::size_t(1) << 20)) throw std::invalid_argument("marginal sums need K <= 2^20 classes");
    const auto words = streams * static_cast<std::size_t>(fused_stream_size(bins));
    auto out = zeros<std::uint64_t>(static_cast<py::ssize_t>(words));
    auto* o = out.mutable_data();
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        binned_sums(spec, p, y, w, n, o, words);
    });
    return out;
}

void py_accumulate_checked(py::array acc, std::int64_t bins, std::int64_t streams, int parts, const py::array& scores,
                           const py::array& labels, int kind, const py::object& weights, double atol) {
    if (acc.dtype().kind() != 'u' || acc.itemsize() != 8 || !(acc.flags() & py::array::c_style) || !acc.writeable())
        throw py::type_error("acc must be a writeable C-contiguous uint64 array");
    require_native(acc, "acc");
    check_pair(scores, labels, kind);
    const std::size_t K = kind == kBinary ? 0 : static_cast<std::size_t>(scores.shape(1));
    const double* w = weights_of(weights, scores.shape(0));
    auto* data = static_cast<std::uint64_t*>(acc.mutable_data());
    const auto words = static_cast<std::size_t>(acc.size());
    const auto n = static_cast<std::size_t>(scores.shape(0));
    dispatch(scores, labels, [&](auto* p, auto* y) {
        py::gil_scoped_release release;
        accumulate_checked(data, words, SketchLayout{bins, streams}, parts, p, y, w, n, K, kind, atol);
    });
}

}  // namespace

void register_fused(py::module_& m) {
    m.attr("WEIGHT_BITS") = kWeightBits;
    m.def("binned_sums", &py_binned_sums, py::arg("scores"), py::arg("labels"), py::arg("weights"), py::arg("bins"),
          py::arg("kind"), py::arg("parts"), py::arg("atol"), py::arg("cuts") = py::none());
    m.def("accumulate_checked", &py_accumulate_checked, py::arg("acc"), py::arg("bins"), py::arg("streams"),
          py::arg("parts"), py::arg("scores"), py::arg("labels"), py::arg("kind"), py::arg("weights"),
          py::arg("atol"));
}
