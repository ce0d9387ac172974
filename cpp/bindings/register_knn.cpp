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
py::tuple run(const py::array& query, const py::array& pool, std::size_t k, const py::object& exclude,
              unsigned threads) {
    const auto nq = static_cast<std::size_t>(query.shape(0));
    const auto nx = static_cast<std::size_t>(pool.shape(0));
    const auto d = static_cast<std::size_t>(query.shape(1));
    const std::int64_t* ex = nullptr;
    py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ex_arr;
    if (!exclude.is_none()) {
        ex_arr = py::cast<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>>(exclude);
        if (static_cast<std::size_t>(ex_arr.size()) != nq) throw std::invalid_argument("exclude must have one entry per query");
        ex = ex_arr.data();
    }
    py::array_t<std::int64_t> index({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
    py::array_t<double> dist({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
    auto* ip = index.mutable_data();
    auto* dp = dist.mutable_data();
    const T* qp = static_cast<const T*>(query.data());
    const T* xp = static_cast<const T*>(pool.data());
    {
        py::gil_scoped_release release;
        knn_sqeuclidean(qp, nq, xp, nx, d, k, ex, ip, dp, threads);
    }
    return py::make_tuple(index, dist);
}

template <class T>
py::tuple run_sdm(const py::array& query, const py::array& pool, std::int64_t k, const std::uint8_t* correct,
                  const std::int64_t* pred, const std::int64_t* query_pred, unsigned threads) {
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
        sdm_support_stats(Q, nq, X, nx, d, k, correct, pred, query_pred, qp, dp, np_, threads);
    }
    return py::make_tuple(q, d0, nearest);
}

void check_pair(const py::array& query, const py::array& pool) {
    require_contiguous(query, "query");
    require_contiguous(pool, "pool");
    if (query.ndim() != 2 || pool.ndim() != 2 || query.shape(1) != pool.shape(1))
        throw std::invalid_argument("query and pool must be 2-D with the same number of columns");
    if (query.dtype().kind() != 'f' || !query.dtype().is(pool.dtype()))
        throw py::type_error("query and pool must both be float32 or both float64");
}

py::tuple py_sdm_support_stats(const py::array& query, const py::array& pool, std::int64_t k,
                               py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> correct,
                               py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> pred,
                               py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> query_pred,
                               unsigned threads) {
    check_pair(query, pool);
    if (pool.shape(0) < 1) throw std::invalid_argument("the support set is empty");
    if (correct.size() != pool.shape(0) || pred.size() != pool.shape(0))
        throw std::invalid_argument("correct and pred must have one entry per support row");
    if (query_pred.size() != query.shape(0)) throw std::invalid_argument("query_pred must have one entry per query");
    if (query.itemsize() == 4)
        return run_sdm<float>(query, pool, k, correct.data(), pred.data(), query_pred.data(), threads);
    return run_sdm<double>(query, pool, k, correct.data(), pred.data(), query_pred.data(), threads);
}

py::tuple py_knn(const py::array& query, const py::array& pool, std::size_t k, const py::object& exclude,
                 unsigned threads) {
    check_pair(query, pool);
    if (k > static_cast<std::size_t>(pool.shape(0))) throw std::invalid_argument("k exceeds the pool size");
    if (query.itemsize() == 4) return run<float>(query, pool, k, exclude, threads);
    return run<double>(query, pool, k, exclude, threads);
}

}  // namespace

void register_knn(py::module_& m) {
    m.def("knn", &py_knn, py::arg("query"), py::arg("pool"), py::arg("k"), py::arg("exclude") = py::none(),
          py::arg("threads") = 0u,
          "Exact k nearest neighbours on squared L2 (ties to the smaller index): (indices, distances).");
    m.def("sdm_support_stats", &py_sdm_support_stats, py::arg("query"), py::arg("pool"), py::arg("k"),
          py::arg("correct"), py::arg("pred"), py::arg("query_pred"), py::arg("threads") = 0u,
          "SDM similarity q (matches before the first non-match, capped at k), nearest distance and index.");
}
