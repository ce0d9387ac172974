// Bindings of the log line scanners: bytes in, numpy blocks out, the GIL released while scanning.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "calipers/log_scan.hpp"

namespace py = pybind11;
using namespace calipers::logscan;

namespace {

// Hand a vector's storage to numpy without copying it.
template <typename T>
py::array_t<T> to_array(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
    auto* owned = new std::vector<T>(std::move(v));
    py::capsule keep(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(shape, owned->data(), keep);
}

// fields: (key, csv column, kind 0..5 = number/vector/text/time/epoch/label, slot, length) per wanted field.
py::dict py_scan_log(const py::buffer& data, const std::string& delimiter,
                     const std::vector<std::tuple<std::string, int, int, int, int>>& fields, int width) {
    if (delimiter.size() > 1) throw std::invalid_argument("delimiter must be one character or empty (JSONL)");
    // No upper bound on the width (a probability vector may have any K): the scanner keeps
    // values for parsed rows only, and a parsed row spells each of its values in the text.
    if (width < 1) throw std::invalid_argument("scan_log: width must be at least 1");
    std::vector<Field> wanted;
    for (const auto& [key, column, kind, slot, length] : fields) {
        if (kind < 0 || kind > 5 || slot < 0 || length < 1 ||
            static_cast<long long>(slot) + static_cast<long long>(length) > static_cast<long long>(width))
            throw std::invalid_argument("scan_log: bad field layout for '" + key + "'");
        wanted.push_back(Field{key, column, static_cast<Kind>(kind), slot, length});
    }
    const py::buffer_info info = data.request();
    if (info.ndim != 1 || info.itemsize != 1 || (info.size > 1 && info.strides[0] != 1))
        throw std::invalid_argument("scan_log: data must be contiguous bytes");
    std::string_view text(static_cast<const char*>(info.ptr), static_cast<std::size_t>(info.size));
    Block block;
    block.width = width;
    {
        py::gil_scoped_release release;
        scan(text, delimiter.empty() ? '\0' : delimiter[0], wanted, block);
    }
    const auto rows = static_cast<py::ssize_t>(block.deferred.size());
    const auto parsed = static_cast<py::ssize_t>(block.values.size() / static_cast<std::size_t>(width));
    py::dict out;
    out["values"] = to_array(std::move(block.values), {parsed, static_cast<py::ssize_t>(width)});
    out["deferred"] = to_array(std::move(block.deferred), {rows});
    out["line"] = to_array(std::move(block.line), {rows});
    out["start"] = to_array(std::move(block.start), {rows});
    out["stop"] = to_array(std::move(block.stop), {rows});
    out["codes"] = block.codes.empty() ? py::none().cast<py::object>()
                                       : py::object(to_array(std::move(block.codes), {parsed}));
    py::list names;
    for (const auto& name : block.names) names.append(py::bytes(name));
    out["names"] = names;
    out["lines"] = block.lines;
    return out;
}

}  // namespace

void register_logscan(py::module_& m) {
    m.def("scan_log", &py_scan_log, py::arg("data"), py::arg("delimiter"), py::arg("fields"), py::arg("width"),
          "Scan whole lines of a CSV (delimiter) or JSONL (delimiter '') block into numbers; lines that are "
          "not plainly well-formed come back deferred for the Python row parser. 'values' (parsed rows, width) "
          "and 'codes' hold the rows that are not deferred, in order; 'deferred', 'line', 'start' and 'stop' "
          "every line that is not blank.");
}
