// Array helpers shared by the binding units.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace calipers_bindings {

inline void require_contiguous(const py::array& a, const char* name) {
    if (!(a.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(name) + " must be C-contiguous");
}

// Calls f(const T* scores, const L* labels) for the supported dtype pairs.
template <class F>
void dispatch(const py::array& scores, const py::array& labels, F&& f) {
    require_contiguous(scores, "scores");
    require_contiguous(labels, "labels");
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
        throw py::type_error("labels must be int8/16/32/64, uint8 or bool, got " +
                             std::string(py::str(labels.dtype())));
    };
    const auto skind = scores.dtype().kind();
    if (skind == 'f' && scores.itemsize() == 8)
        return with_label(static_cast<const double*>(scores.data()));
    if (skind == 'f' && scores.itemsize() == 4)
        return with_label(static_cast<const float*>(scores.data()));
    throw py::type_error("scores must be float32 or float64, got " + std::string(py::str(scores.dtype())));
}


// A zero-filled 1-D output array of n elements.
template <class T>
py::array_t<T> zeros(py::ssize_t n) {
    py::array_t<T> out(n);
    std::fill(out.mutable_data(), out.mutable_data() + n, T(0));
    return out;
}

// A contiguous float64 array (the Python layer guarantees it; checked again here).
inline const double* f64(const py::array& a, const char* name) {
    require_contiguous(a, name);
    if (a.dtype().kind() != 'f' || a.itemsize() != 8)
        throw py::type_error(std::string(name) + " must be float64");
    return static_cast<const double*>(a.data());
}

}  // namespace calipers_bindings
