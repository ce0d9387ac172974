// Array helpers shared by the binding units: every dtype, layout and size a kernel relies
// on is checked here (TypeError for a wrong kind, ValueError for a wrong value), so a
// direct call of calipers._core with bad input raises instead of reading out of bounds.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace calipers_bindings {

inline std::string dtype_name(const py::array& a) { return std::string(py::str(a.dtype())); }

inline void require_contiguous(const py::array& a, const char* name) {
    if (!(a.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(name) + " must be C-contiguous");
}

inline void require_native(const py::array& a, const char* name) {
    if (!a.dtype().attr("isnative").cast<bool>())
        throw py::type_error(std::string(name) + " must be in native byte order, got " + dtype_name(a));
}

inline void require_ndim(const py::array& a, const char* name, py::ssize_t ndim) {
    if (a.ndim() != ndim)
        throw std::invalid_argument(std::string(name) + " must be " + std::to_string(ndim) + "-D, got " +
                                    std::to_string(a.ndim()) + "-D");
}

// float32 (4) or float64 (8), native and C-contiguous; returns the item size.
inline py::ssize_t require_float(const py::array& a, const char* name) {
    if (a.dtype().kind() != 'f' || (a.itemsize() != 4 && a.itemsize() != 8))
        throw py::type_error(std::string(name) + " must be float32 or float64, got " + dtype_name(a));
    require_native(a, name);
    require_contiguous(a, name);
    return a.itemsize();
}

// Calls f(const T* scores, const L* labels) for the supported dtype pairs.
template <class F>
void dispatch(const py::array& scores, const py::array& labels, F&& f, const char* scores_name = "scores") {
    const py::ssize_t width = require_float(scores, scores_name);
    require_contiguous(labels, "labels");
    require_native(labels, "labels");
    auto with_label = [&](auto* s) {
        const auto kind = labels.dtype().kind();
        const auto size = labels.itemsize();
        const void* lp = labels.data();
        if ((kind == 'i' || kind == 'b' || kind == 'u') && size == 1) {
            if (kind == 'i') return f(s, static_cast<const std::int8_t*>(lp));
            return f(s, static_cast<const std::uint8_t*>(lp));
        }
        if (kind == 'i' && size == 2) return f(s, static_cast<const std::int16_t*>(lp));
        if (kind == 'i' && size == 4) return f(s, static_cast<const std::int32_t*>(lp));
        if (kind == 'i' && size == 8) return f(s, static_cast<const std::int64_t*>(lp));
        throw py::type_error("labels must be int8/16/32/64, uint8 or bool, got " + dtype_name(labels));
    };
    if (width == 8) return with_label(static_cast<const double*>(scores.data()));
    return with_label(static_cast<const float*>(scores.data()));
}

// A zero-filled 1-D output array of n elements.
template <class T>
py::array_t<T> zeros(py::ssize_t n) {
    py::array_t<T> out(n);
    std::fill(out.mutable_data(), out.mutable_data() + n, T(0));
    return out;
}

// A native, contiguous float64 array.
inline const double* f64(const py::array& a, const char* name) {
    if (a.dtype().kind() != 'f' || a.itemsize() != 8)
        throw py::type_error(std::string(name) + " must be float64, got " + dtype_name(a));
    require_native(a, name);
    require_contiguous(a, name);
    return static_cast<const double*>(a.data());
}

// A native, contiguous int64 array.
inline const std::int64_t* i64(const py::array& a, const char* name) {
    if (a.dtype().kind() != 'i' || a.itemsize() != 8)
        throw py::type_error(std::string(name) + " must be int64, got " + dtype_name(a));
    require_native(a, name);
    require_contiguous(a, name);
    return static_cast<const std::int64_t*>(a.data());
}

inline void require_size(const py::array& a, const char* name, py::ssize_t n, const char* what) {
    if (a.size() != n)
        throw std::invalid_argument(std::string(name) + " must have " + what + " (" + std::to_string(n) + "), got " +
                                    std::to_string(a.size()));
}

// Values sorted ascending (NaN anywhere fails).
inline void require_sorted(const double* v, std::size_t n, const char* name) {
    for (std::size_t i = 0; i < n; ++i)
        if (!(v[i] == v[i]) || (i && !(v[i - 1] <= v[i])))
            throw std::invalid_argument(std::string(name) + " must be sorted ascending without NaN (first offender at index " +
                                        std::to_string(i) + ")");
}

}  // namespace calipers_bindings
