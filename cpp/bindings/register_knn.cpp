// Bindings of the exact kNN kernel: float32 or float64 rows, the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <cstddef>

#include "arrays.hpp"
#include "calipers/knn.hpp"

namespace py = pybind11;
using namespace calipers;
using namespace calipers_bindings;

namespace {

template <class T>
py::tuple run(const py::array& query, const py::array& pool, std::size_t k, const py::object& exclude) {
    const auto nq = static_cast<std::size_t>(query.shape(0));
    const auto nx = static_cast<std::size_t>(pool.shape(0));
    const auto d = static_cast<std::size_t>(query.shape(1));
    const std::int64_t* ex = nullptr;
    if (!exclude.is_none()) {
        if (!py::isinstance<py::array>(exclude)) throw py::type_error("exclude must be None or an int64 array");
        const auto arr = py::cast<py::array>(exclude);
        require_ndim(arr, "exclude", 1);
        require_size(arr, "exclude", static_cast<py::ssize_t>(nq), "one entry per query");
        ex = i64(arr, "exclude");  // a negative entry excludes nothing
    }
    py::array_t<std::int64_t> index({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
    py::array_t<double> dist({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
    auto* ip = index.mutable_data();
    auto* dp = dist.mutable_data();
    const T* qp = static_cast<const T*>(query.data());
    const T* xp = static_cast<const T*>(pool.data());
    {
        py::gil_scoped_release release;
        knn_sqeuclidean(qp, nq, xp, nx, d, k, ex, ip, dp);
    }
    return py::make_tuple(index, dist);
}

template <class T>
py::tuple run_sdm(const py::array& query, const py::array& pool, std::int64_t k, const std::uint8_t* correct,
                  const std::int64_t* pred, const std::int64_t* query_pred) {
    const auto nq = static_cast<std::size_t>(query.shape(0));
    py::array_t<std::int64_t> q(static_cast<py::ssize_t>(nq)), nearest(static_cast<py::ssize_t>(nq));
    py::array_t<double> d0(static_cast<py::ssize_t>(nq));
    auto* qp = q.mutable_data();
    auto* np_ = nearest.mutable_data();
    auto* dp = d0.mutable_data();
    const T* Q = static_cast<const T*>(query.data());
    const T* X = static_cast<const T*>(pool.data());
    const auto nx = static_cast<std::size_t>(pool.shape(0));
    const auto d = static_cast<std::size_t>(query.shape(1));
    {
        py::gil_scoped_release release;
        sdm_support_stats(Q, nq, X, nx, d, k, correct, pred, query_pred, qp, dp, np_);
    }
    return py::make_tuple(q, d0, nearest);
}

// Returns the item size (4 or 8) of two float32 or two float64 (rows, dims) arrays.
py::ssize_t check_pair(const py::array& query, const py::array& pool) {
    require_ndim(query, "query", 2);
    require_ndim(pool, "pool", 2);
    const py::ssize_t width = require_float(query, "query");
    if (require_float(pool, "pool") != width) throw py::type_error("query and pool must both be float32 or both float64");
    if (query.shape(1) != pool.shape(1))
        throw std::invalid_argument("query and pool must have the same number of columns, got " +
                                    std::to_string(query.shape(1)) + " and " + std::to_string(pool.shape(1)));
    return width;
}

py::tuple py_sdm_support_stats(const py::array& query, const py::array& pool, std::int64_t k, const py::array& correct,
                               const py::array& pred, const py::array& query_pred) {
    const py::ssize_t width = check_pair(query, pool);
    if (pool.shape(0) < 1) throw std::invalid_argument("the support set is empty");
    if (k < 1) throw std::invalid_argument("k must be >= 1");
    if (correct.dtype().kind() != 'u' || correct.itemsize() != 1) throw py::type_error("correct must be uint8");
    require_contiguous(correct, "correct");
    require_size(correct, "correct", pool.shape(0), "one entry per support row");
    require_size(pred, "pred", pool.shape(0), "one entry per support row");
    require_size(query_pred, "query_pred", query.shape(0), "one entry per query");
    const auto* cp = static_cast<const std::uint8_t*>(correct.data());
    const std::int64_t* pp = i64(pred, "pred");
    const std::int64_t* qp = i64(query_pred, "query_pred");
    if (width == 4) return run_sdm<float>(query, pool, k, cp, pp, qp);
    return run_sdm<double>(query, pool, k, cp, pp, qp);
}

py::tuple py_knn(const py::array& query, const py::array& pool, std::int64_t k, const py::object& exclude) {
    const py::ssize_t width = check_pair(query, pool);
    if (k < 0 || k > pool.shape(0)) throw std::invalid_argument("k must lie in [0, pool rows]");
    const auto kk = static_cast<std::size_t>(k);
    if (width == 4) return run<float>(query, pool, kk, exclude);
    return run<double>(query, pool, kk, exclude);
}

}  // namespace

void register_knn(py::module_& m) {
    m.def("knn", &py_knn, py::arg("query"), py::arg("pool"), py::arg("k"), py::arg("exclude") = py::none(),
          "Exact k nearest neighbours on squared L2 (ties to the smaller index): (indices, distances).");
    m.def("sdm_support_stats", &py_sdm_support_stats, py::arg("query"), py::arg("pool"), py::arg("k"),
          py::arg("correct"), py::arg("pred"), py::arg("query_pred"),
          "SDM similarity q (matches before the first non-match, capped at k), nearest distance and index.");
}
