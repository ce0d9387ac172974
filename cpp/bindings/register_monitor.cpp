// Binding of the row accumulator (ReliabilitySketch(grid=...) and CalibrationMonitor state).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "calipers/rows.hpp"

namespace py = pybind11;
using namespace calipers;

namespace {

template <class T>
const T* contiguous(const py::array& a, const char* name, char kind, std::size_t n) {
    if (a.ndim() != 1 || !(a.flags() & py::array::c_style) || a.dtype().kind() != kind ||
        a.itemsize() != static_cast<py::ssize_t>(sizeof(T)))
        throw py::type_error(std::string(name) + " must be a 1-D C-contiguous " +
                             (kind == 'f' ? "float64" : kind == 'i' ? "int64" : "uint8") + " array");
    if (static_cast<std::size_t>(a.shape(0)) != n)
        throw std::invalid_argument(std::string(name) + " must have one entry per score");
    return static_cast<const T*>(a.data());
}

void py_accumulate_rows(py::array acc, std::int64_t bins, int octaves, int sub_bits, const py::array& rows,
                        const py::array& scores, const py::array& positive) {
    if (acc.dtype().kind() != 'u' || acc.itemsize() != 8 || acc.ndim() != 1 || !(acc.flags() & py::array::c_style) ||
        !acc.writeable())
        throw py::type_error("acc must be a writeable 1-D C-contiguous uint64 array");
    if (bins < 1) throw std::invalid_argument("bins must be >= 1");
    if (!valid_grid(octaves, sub_bits)) throw std::invalid_argument("invalid grid (octaves, sub_bits)");
    const Grid g{octaves, sub_bits};
    const std::int64_t size = row_size(bins, g);
    if (acc.size() % size != 0) throw std::invalid_argument("accumulator size is not a whole number of rows");
    if (scores.ndim() != 1) throw std::invalid_argument("scores must be 1-D");
    const auto n = static_cast<std::size_t>(scores.shape(0));
    const double* p = contiguous<double>(scores, "scores", 'f', n);
    const std::int64_t* r = contiguous<std::int64_t>(rows, "rows", 'i', n);
    const std::uint8_t* y = contiguous<std::uint8_t>(positive, "positive", 'u', n);
    auto* data = static_cast<std::uint64_t*>(acc.mutable_data());
    const std::int64_t nrows = acc.size() / size;
    py::gil_scoped_release release;
    accumulate_rows(data, nrows, bins, g, r, p, y, n);
}

}  // namespace

void register_monitor(py::module_& m) {
    m.def("accumulate_rows", &py_accumulate_rows, py::arg("acc"), py::arg("bins"), py::arg("octaves"),
          py::arg("sub_bits"), py::arg("rows"), py::arg("scores"), py::arg("positive"),
          "Add (score, outcome) pairs to the rows of a flat uint64 state (rows.hpp); all-or-nothing.");
}
