"""The kernel contract (calipers._kernels.contract): every backend implements every kernel
with the contract's parameters, gives the reference's results on valid input, and refuses
bad input with the reference's exception and message. The C++ extension is also called
directly with hostile input in a child process, which must end with exceptions only."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from calipers._common import grid as _grid
from calipers._kernels import backend as _backend
from calipers._kernels.contract import KERNEL_NAMES, Kernels

REFERENCE = _backend.resolve("numpy")
RNG = np.random.default_rng(11)


def _params(backend_name: str, name: str) -> list[str]:
    fn = getattr(_backend.resolve(backend_name), name)
    if backend_name == "cpp":  # pybind11: "name(a: T, b: U = ...) -> R"
        head = fn.__doc__.splitlines()[0]
        inner = head[head.index("(") + 1 : head.rindex(") ->")]
        return [p.split(":")[0].strip() for p in re.split(r",\s*(?![^\[]*\])", inner) if p.strip()]
    return list(inspect.signature(fn).parameters)


def test_contract_lists_every_kernel() -> None:
    assert len(KERNEL_NAMES) == 26
    assert {"accumulate", "knn", "temperature_fit", "unit_stats", "det_log"} <= set(KERNEL_NAMES)


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_every_backend_implements_the_member(backend: str, name: str) -> None:
    module = _backend.resolve(backend)
    assert callable(getattr(module, name, None)), f"{backend} lacks {name}"
    wanted = [p for p in inspect.signature(getattr(Kernels, name)).parameters if p != "self"]
    got = _params(backend, name)
    assert got[: len(wanted)] == wanted, f"{backend}.{name}{got} vs contract {wanted}"


def test_core_stub_declares_every_kernel() -> None:
    import pathlib

    import calipers

    stub = (pathlib.Path(calipers.__file__).parent / "_core.pyi").read_text()
    for name in (*KERNEL_NAMES, "scan_log", "set_num_threads", "get_num_threads", "pool_workers"):
        assert re.search(rf"^def {name}\(", stub, re.M), f"_core.pyi does not declare {name}"


# ----------------------------------------------------------------------------- valid input


def _probs(n: int, K: int, dtype: Any = np.float64) -> np.ndarray:
    z = RNG.normal(size=(n, K)) * 2
    P = np.exp(z - z.max(axis=1, keepdims=True))
    return (P / P.sum(axis=1, keepdims=True)).astype(dtype)


P10 = _probs(500, 10)
Y10 = RNG.integers(0, 10, 500)
P1 = np.concatenate([[0.0, 1.0, 0.5, 1 / 15, np.nextafter(1.0, 0.0)], RNG.random(995)])
Y1 = (RNG.random(1000) < P1).astype(np.int8)
LOGITS = RNG.normal(size=(400, 5)) * 3
LOGIT_LABELS = RNG.integers(0, 5, 400)
W = RNG.random(400) + 0.1
EMB = RNG.normal(size=(60, 7))
EMB32 = EMB.astype(np.float32)
X1 = np.ascontiguousarray(np.log(P1.clip(1e-6, 1 - 1e-6) / (1 - P1.clip(1e-6, 1 - 1e-6)))[:, None])
SORTED = np.sort(RNG.random(300))
ISO_Y = (RNG.random(300) < SORTED).astype(float)
CORRECT = (RNG.random(60) < 0.7).astype(np.uint8)
PRED = RNG.integers(0, 3, 60)
QUERY_PRED = RNG.integers(0, 3, 20)
LOG_X = np.concatenate([RNG.random(100), [1e-300, 1.0, 7.5]])


def _acc(bins: int, streams: int) -> np.ndarray:
    return np.zeros(streams * _grid.stream_size(bins), np.uint64)


def _accumulate(k: Any, bins: int, streams: int, scores: np.ndarray, labels: np.ndarray, kind: int) -> np.ndarray:
    acc = _acc(bins, streams)
    k.accumulate(acc, bins, streams, _grid.PART_ALL, scores, labels, kind)
    return acc


W1 = RNG.random(1000) * 3
WINT = RNG.integers(0, 4, 1000).astype(np.float64)
W500 = RNG.random(500) * 2


def _checked(k: Any, bins: int, streams: int, scores: np.ndarray, labels: np.ndarray, kind: int, w: Any) -> np.ndarray:
    acc = _acc(bins, streams)
    acc[::7] = 12345  # a state that already holds something: the kernel adds to it
    k.accumulate_checked(acc, bins, streams, _grid.PART_ALL, scores, labels, kind, w, 1e-6)
    return acc


def _rows(k: Any, bins: int, octaves: int, sub_bits: int, rows: np.ndarray, nrows: int) -> np.ndarray:
    size = bins + (2 * (1 + octaves * (1 << sub_bits)) if octaves else 0)
    acc = np.zeros(nrows * (size * _grid.FIELDS + 4), np.uint64)
    k.accumulate_rows(acc, bins, octaves, sub_bits, rows, P1, Y1.astype(np.uint8))
    return acc


VALID: dict[str, Callable[[Any], Any]] = {
    "validate_binary": lambda k: k.validate_binary(P1, Y1),
    "validate_probs": lambda k: k.validate_probs(P10, Y10, 1e-6, True),
    "accumulate": lambda k: [
        _accumulate(k, 15, 1, P1, Y1, 0),
        _accumulate(k, 7, 1, P10, Y10, 1),
        _accumulate(k, 3, 10, P10, Y10, 2),
        _accumulate(k, 15, 1, P10.astype(np.float32), Y10.astype(np.int16), 1),
    ],
    "accumulate_rows": lambda k: [
        _rows(k, 15, 31, 6, np.array([0, 2, 1] * 333 + [2], np.int64), 3),
        _rows(k, 7, 5, 2, np.zeros(1000, np.int64), 1),
        _rows(k, 4, 0, 0, np.arange(1000, dtype=np.int64) % 5, 5),
    ],
    "accumulate_checked": lambda k: [
        _checked(k, 15, 1, P1, Y1, 0, None),
        _checked(k, 15, 1, P1, Y1, 0, W1),
        _checked(k, 7, 1, P10, Y10, 1, W500),
        _checked(k, 3, 10, P10, Y10, 2, W500),
        _checked(k, 15, 1, P10.astype(np.float32), Y10.astype(np.int16), 1, None),
    ],
    "binned_sums": lambda k: [
        k.binned_sums(P1, Y1, None, 15, 0, 1, -1.0),
        k.binned_sums(P1, Y1, W1, 15, 0, 5, -1.0),
        k.binned_sums(P1, Y1.astype(bool), WINT, 10, 0, 9, -1.0),
        k.binned_sums(P1, Y1, None, 5, 0, 1, -1.0, np.array([0.1, 0.5, 0.5, 0.9])),
        k.binned_sums(P10, Y10, None, 15, 1, 5, 1e-6),
        k.binned_sums(P10, Y10, W500, 7, 1, 9, -1.0),
        k.binned_sums(P10, Y10, W500, 3, 2, 5, 1e-6),
        k.binned_sums(P10.astype(np.float32), Y10.astype(np.uint8), None, 2000, 1, 1, 1e-6),
        k.binned_sums(P10[:4], Y10[:4], None, 15, 2, 1, -1.0),
    ],
    "top_label": lambda k: k.top_label(P10, Y10),
    "binned_stats_edges": lambda k: [
        k.binned_stats_edges(P1, Y1, np.array([0.1, 0.5, 0.5, 0.9]), rc, nb) for rc in (True, False) for nb in (2, 5)
    ],
    "unit_stats": lambda k: k.unit_stats(P1, Y1, 15),
    "knn": lambda k: [
        k.knn(EMB, EMB, 5),
        k.knn(EMB32, EMB32, 3, np.arange(60, dtype=np.int64)),
        k.knn(EMB, EMB[:4], 4, np.array([-1, 0, 3, 99] * 15, np.int64)),
    ],
    "sdm_support_stats": lambda k: k.sdm_support_stats(EMB[:20], EMB, 8, CORRECT, PRED, QUERY_PRED),
    "temperature_stats": lambda k: [
        k.temperature_stats(LOGITS, LOGIT_LABELS, None, 0.7),
        k.temperature_stats(LOGITS, LOGIT_LABELS, W, 1.3),
    ],
    "temperature_fit": lambda k: [
        k.temperature_fit(LOGITS, LOGIT_LABELS, None),
        k.temperature_fit(LOGITS, LOGIT_LABELS, W),
    ],
    "logistic_stats": lambda k: k.logistic_stats(X1, Y1.astype(np.float64), None, np.array([0.9, -0.1])),
    "isotonic_fit": lambda k: k.isotonic_fit(SORTED, ISO_Y, np.ones(300), 1e-15),
    "platt_transform": lambda k: k.platt_transform(P1, 1.1, -0.2, 1e-12),
    "beta_transform": lambda k: k.beta_transform(P1, 1.1, 0.9, 0.1, 1e-12),
    "interp": lambda k: k.interp(np.array([0.0, 0.3, 0.31, 1.0, np.nan]), SORTED[::30].copy(), np.linspace(0, 1, 10)),
    "bin_lookup": lambda k: [k.bin_lookup(P1, SORTED[::50].copy(), np.linspace(0, 1, 7), rc) for rc in (True, False)],
    "softmax_scaled": lambda k: k.softmax_scaled(LOGITS, 0.8),
    "det_log": lambda k: k.det_log(LOG_X),
    "kde_score": lambda k: [k.kde_score(SORTED, None, LOG_X, 0.05), k.kde_score(SORTED, ISO_Y + 0.5, LOG_X, 0.2)],
    "linear_binning": lambda k: [
        k.linear_binning(SORTED, None, 0.0, 0.01, 102),
        k.linear_binning(SORTED, ISO_Y + 0.5, -0.5, 0.1, 20),
    ],
    "grid_score": lambda k: [
        k.grid_score(LOG_X, 0.0, 0.1, np.sin(np.arange(11.0)), np.cos(np.arange(11.0)), d) for d in (0.0, 1e-4)
    ],
    "hcalibration_loss_grad": lambda k: [
        k.hcalibration_loss_grad(P10, Y10.astype(np.int64), 20, 1e-20, w, loo, 1e5, True)
        for w in (0, 1)
        for loo in (True, False)
    ],
    "fine_cell": lambda k: k.fine_cell(np.concatenate([P1, [0.0, 1.0, 1e-40]])),
}


def _same(got: Any, ref: Any, where: str) -> None:
    if isinstance(ref, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(ref), where
        for i, (g, r) in enumerate(zip(got, ref)):
            _same(g, r, f"{where}[{i}]")
        return
    g, r = np.asarray(got), np.asarray(ref)
    assert g.shape == r.shape, f"{where}: shape {g.shape} vs {r.shape}"
    if r.dtype.kind in "iub":
        np.testing.assert_array_equal(g, r, err_msg=where)
    else:  # floats: equal to 1e-12 relative (the same summation order gives the same bits)
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-300, equal_nan=True, err_msg=where)


def test_valid_table_covers_the_contract() -> None:
    assert set(VALID) == set(KERNEL_NAMES)


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_kernel_agrees_with_the_reference(backend: str, name: str) -> None:
    _same(VALID[name](_backend.resolve(backend)), VALID[name](REFERENCE), f"{backend}.{name}")


# ------------------------------------------------------------------------------- bad input

F16 = P1.astype(np.float16)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


STRIDED = np.repeat(P1, 2)[::2]
BIG_ENDIAN = P1.astype(">f8")

BAD: list[tuple[str, Callable[[Any], Any]]] = [
    ("validate_binary float16", lambda k: k.validate_binary(F16, Y1)),
    ("validate_binary strided", lambda k: k.validate_binary(STRIDED, Y1)),
    ("validate_binary big-endian", lambda k: k.validate_binary(BIG_ENDIAN, Y1)),
    ("validate_binary lengths", lambda k: k.validate_binary(P1, Y1[:-1])),
    ("validate_binary 2-D", lambda k: k.validate_binary(P10, Y10)),
    ("validate_binary float labels", lambda k: k.validate_binary(P1, Y1.astype(np.float64))),
    ("validate_probs 1-D", lambda k: k.validate_probs(P1, Y1, 1e-4, True)),
    ("validate_probs no columns", lambda k: k.validate_probs(np.zeros((3, 0)), np.zeros(3, np.int8), 1e-4, True)),
    ("accumulate NaN", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, np.array([0.5, np.nan]), np.array([0, 1]), 0)),
    ("accumulate range", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, np.array([0.5, 1.5]), np.array([0, 1]), 0)),
    ("accumulate inf", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, np.array([np.inf]), np.array([0]), 0)),
    ("accumulate label", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, np.array([0.5, 0.2]), np.array([0, 2]), 0)),
    ("accumulate class label", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, P10, Y10 + 5, 1)),
    ("accumulate 2-D NaN", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, np.where(P10 > 0.5, np.nan, P10), Y10, 1)),
    ("accumulate size", lambda k: k.accumulate(_acc(15, 1), 14, 1, 7, P1, Y1, 0)),
    ("accumulate parts", lambda k: k.accumulate(_acc(15, 1), 15, 1, 9, P1, Y1, 0)),
    ("accumulate kind", lambda k: k.accumulate(_acc(15, 1), 15, 1, 7, P10, Y10, 5)),
    ("accumulate streams", lambda k: k.accumulate(_acc(15, 3), 15, 3, 7, P10, Y10, 2)),
    ("accumulate acc dtype", lambda k: k.accumulate(np.zeros(_grid.stream_size(15)), 15, 1, 7, P1, Y1, 0)),
    ("accumulate read-only", lambda k: k.accumulate(_read_only(_acc(15, 1)), 15, 1, 7, P1, Y1, 0)),
    ("accumulate bins", lambda k: k.accumulate(_acc(15, 1), 0, 1, 7, P1, Y1, 0)),
    ("rows out of range", lambda k: _rows(k, 15, 31, 6, np.arange(1000, dtype=np.int64), 3)),
    (
        "rows NaN score",
        lambda k: k.accumulate_rows(
            _acc(15, 1), 15, 31, 6, np.zeros(2, np.int64), np.array([0.5, np.nan]), np.zeros(2, np.uint8)
        ),
    ),
    (
        "rows outcome",
        lambda k: k.accumulate_rows(
            _acc(15, 1), 15, 31, 6, np.zeros(2, np.int64), np.array([0.5, 0.5]), np.array([0, 2], np.uint8)
        ),
    ),
    (
        "rows dtype",
        lambda k: k.accumulate_rows(
            _acc(15, 1), 15, 31, 6, np.zeros(2, np.int32), np.array([0.5, 0.5]), np.zeros(2, np.uint8)
        ),
    ),
    (
        "rows lengths",
        lambda k: k.accumulate_rows(
            _acc(15, 1), 15, 31, 6, np.zeros(3, np.int64), np.array([0.5, 0.5]), np.zeros(2, np.uint8)
        ),
    ),
    (
        "rows grid",
        lambda k: k.accumulate_rows(
            _acc(15, 1), 15, 40, 6, np.zeros(2, np.int64), np.array([0.5, 0.5]), np.zeros(2, np.uint8)
        ),
    ),
    ("sums NaN", lambda k: k.binned_sums(np.array([0.5, np.nan]), np.array([0, 1]), None, 15, 0, 1, -1.0)),
    ("sums range", lambda k: k.binned_sums(np.array([0.5, 1.5, -2.0]), np.array([0, 1, 1]), None, 15, 0, 1, -1.0)),
    ("sums inf", lambda k: k.binned_sums(np.array([np.inf, 0.1]), np.array([0, 1]), None, 15, 0, 1, -1.0)),
    ("sums label", lambda k: k.binned_sums(np.array([0.5, 0.2]), np.array([0, 2]), None, 15, 0, 1, -1.0)),
    ("sums class label", lambda k: k.binned_sums(P10, Y10 - 1, None, 15, 1, 1, 1e-6)),
    ("sums row sum", lambda k: k.binned_sums(P10 * 1.01, Y10, None, 15, 1, 1, 1e-6)),
    ("sums 2-D NaN", lambda k: k.binned_sums(np.where(P10 > 0.5, np.nan, P10), Y10, None, 15, 2, 1, 1e-6)),
    ("sums 2-D range no row check", lambda k: k.binned_sums(P10 * 3, Y10, None, 15, 1, 1, -1.0)),
    ("sums negative weight", lambda k: k.binned_sums(P1, Y1, -W1, 15, 0, 1, -1.0)),
    ("sums NaN weight", lambda k: k.binned_sums(P1, Y1, np.where(W1 > 2, np.nan, W1), 15, 0, 1, -1.0)),
    ("sums huge weight", lambda k: k.binned_sums(P1, Y1, W1 * 1e12, 15, 0, 1, -1.0)),
    ("sums weight length", lambda k: k.binned_sums(P1, Y1, W1[:5], 15, 0, 1, -1.0)),
    ("sums weight dtype", lambda k: k.binned_sums(P1, Y1, W1.astype(np.float32), 15, 0, 1, -1.0)),
    ("sums weight list", lambda k: k.binned_sums(P1, Y1, [1.0] * 1000, 15, 0, 1, -1.0)),
    ("sums bins", lambda k: k.binned_sums(P1, Y1, None, 0, 0, 1, -1.0)),
    ("sums parts", lambda k: k.binned_sums(P1, Y1, None, 15, 0, 4, -1.0)),
    ("sums kind", lambda k: k.binned_sums(P1, Y1, None, 15, 3, 1, -1.0)),
    ("sums 2-D for binary", lambda k: k.binned_sums(P10, Y10, None, 15, 0, 1, -1.0)),
    ("sums cuts length", lambda k: k.binned_sums(P1, Y1, None, 5, 0, 1, -1.0, np.array([0.5]))),
    ("sums cuts unsorted", lambda k: k.binned_sums(P1, Y1, None, 3, 0, 1, -1.0, np.array([0.5, 0.1]))),
    ("sums float16", lambda k: k.binned_sums(F16, Y1, None, 15, 0, 1, -1.0)),
    ("sums lengths", lambda k: k.binned_sums(P1, Y1[:-1], None, 15, 0, 1, -1.0)),
    ("checked row sum", lambda k: k.accumulate_checked(_acc(15, 1), 15, 1, 7, P10 * 0.9, Y10, 1, None, 1e-6)),
    (
        "checked NaN",
        lambda k: k.accumulate_checked(_acc(15, 1), 15, 1, 7, np.array([np.nan]), np.array([0]), 0, None, -1.0),
    ),
    ("checked label", lambda k: k.accumulate_checked(_acc(15, 10), 15, 10, 7, P10, Y10 + 1, 2, None, 1e-6)),
    ("checked weight", lambda k: k.accumulate_checked(_acc(15, 1), 15, 1, 7, P1, Y1, 0, -W1, -1.0)),
    ("checked weight inf", lambda k: k.accumulate_checked(_acc(15, 1), 15, 1, 7, P1, Y1, 0, W1 + np.inf, -1.0)),
    ("checked weight length", lambda k: k.accumulate_checked(_acc(15, 1), 15, 1, 7, P1, Y1, 0, W1[:3], -1.0)),
    ("checked size", lambda k: k.accumulate_checked(_acc(15, 1), 14, 1, 7, P1, Y1, 0, None, -1.0)),
    (
        "checked acc dtype",
        lambda k: k.accumulate_checked(np.zeros(_grid.stream_size(15)), 15, 1, 7, P1, Y1, 0, None, -1.0),
    ),
    ("checked kind", lambda k: k.accumulate_checked(_acc(15, 1), 15, 1, 7, P1, Y1, 4, None, -1.0)),
    ("top_label no columns", lambda k: k.top_label(np.zeros((3, 0)), np.zeros(3, np.int8))),
    ("binned unsorted cuts", lambda k: k.binned_stats_edges(P1, Y1, np.array([0.5, 0.1]), True, 3)),
    ("binned nbins", lambda k: k.binned_stats_edges(P1, Y1, np.array([0.5]), True, 0)),
    ("binned cuts dtype", lambda k: k.binned_stats_edges(P1, Y1, np.array([0.5], np.float32), True, 2)),
    ("unit_stats NaN", lambda k: k.unit_stats(np.array([0.5, np.nan]), np.array([0, 1], np.int8), 15)),
    ("unit_stats bins", lambda k: k.unit_stats(P1, Y1, 0)),
    ("knn float16", lambda k: k.knn(EMB.astype(np.float16), EMB.astype(np.float16), 2)),
    ("knn mixed", lambda k: k.knn(EMB, EMB32, 2)),
    ("knn dims", lambda k: k.knn(EMB, EMB[:, :3].copy(), 2)),
    ("knn k", lambda k: k.knn(EMB, EMB, 61)),
    ("knn exclude length", lambda k: k.knn(EMB, EMB, 2, np.arange(5, dtype=np.int64))),
    ("knn exclude dtype", lambda k: k.knn(EMB, EMB, 2, np.arange(60, dtype=np.int32))),
    ("knn strided", lambda k: k.knn(EMB[::2], EMB, 2)),
    (
        "sdm float16",
        lambda k: k.sdm_support_stats(
            EMB.astype(np.float16),
            EMB.astype(np.float16),
            2,
            np.ones(60, np.uint8),
            np.zeros(60, np.int64),
            np.zeros(60, np.int64),
        ),
    ),
    (
        "sdm k",
        lambda k: k.sdm_support_stats(
            EMB, EMB, 0, np.ones(60, np.uint8), np.zeros(60, np.int64), np.zeros(60, np.int64)
        ),
    ),
    (
        "sdm lengths",
        lambda k: k.sdm_support_stats(
            EMB, EMB, 2, np.ones(59, np.uint8), np.zeros(60, np.int64), np.zeros(60, np.int64)
        ),
    ),
    (
        "sdm empty support",
        lambda k: k.sdm_support_stats(
            EMB, EMB[:0], 2, np.ones(0, np.uint8), np.zeros(0, np.int64), np.zeros(60, np.int64)
        ),
    ),
    ("temperature label", lambda k: k.temperature_stats(LOGITS, LOGIT_LABELS + 3, None, 1.0)),
    ("temperature negative label", lambda k: k.temperature_fit(LOGITS, LOGIT_LABELS - 1, None)),
    ("temperature NaN logit", lambda k: k.temperature_fit(np.where(LOGITS > 4, np.nan, LOGITS), LOGIT_LABELS, None)),
    ("temperature weights", lambda k: k.temperature_fit(LOGITS, LOGIT_LABELS, -W)),
    ("temperature weight length", lambda k: k.temperature_fit(LOGITS, LOGIT_LABELS, W[:3])),
    ("temperature rows", lambda k: k.temperature_fit(LOGITS, LOGIT_LABELS[:9], None)),
    ("temperature empty", lambda k: k.temperature_fit(LOGITS[:0], LOGIT_LABELS[:0], None)),
    ("temperature float16", lambda k: k.temperature_fit(LOGITS.astype(np.float16), LOGIT_LABELS, None)),
    ("logistic dims", lambda k: k.logistic_stats(np.zeros((5, 4)), np.zeros(5), None, np.zeros(5))),
    ("logistic lengths", lambda k: k.logistic_stats(X1, np.zeros(3), None, np.zeros(2))),
    ("isotonic unsorted", lambda k: k.isotonic_fit(SORTED[::-1].copy(), np.zeros(300), np.ones(300), 1e-15)),
    ("isotonic weights", lambda k: k.isotonic_fit(SORTED, np.zeros(300), np.zeros(300), 1e-15)),
    ("isotonic lengths", lambda k: k.isotonic_fit(SORTED, np.zeros(299), np.ones(300), 1e-15)),
    ("platt dtype", lambda k: k.platt_transform(P1.astype(np.float32), 1.0, 0.0, 1e-12)),
    ("interp unsorted", lambda k: k.interp(P1, SORTED[::-1].copy(), SORTED)),
    ("interp empty", lambda k: k.interp(P1, np.zeros(0), np.zeros(0))),
    ("bin_lookup empty values", lambda k: k.bin_lookup(P1, SORTED, np.zeros(0), True)),
    ("bin_lookup unsorted", lambda k: k.bin_lookup(P1, SORTED[::-1].copy(), np.ones(301), True)),
    ("softmax float16", lambda k: k.softmax_scaled(LOGITS.astype(np.float16), 1.0)),
    ("softmax inf", lambda k: k.softmax_scaled(np.where(LOGITS > 4, np.inf, LOGITS), 1.0)),
    ("softmax 1-D", lambda k: k.softmax_scaled(LOGITS[:, 0].copy(), 1.0)),
    ("kde unsorted", lambda k: k.kde_score(SORTED[::-1].copy(), None, LOG_X, 0.1)),
    ("kde bandwidth", lambda k: k.kde_score(SORTED, None, LOG_X, 0.0)),
    ("kde bandwidth squared underflows", lambda k: k.kde_score(SORTED, None, LOG_X, 1e-170)),
    ("kde bandwidth squared overflows", lambda k: k.kde_score(SORTED, None, LOG_X, 1e160)),
    ("kde weights", lambda k: k.kde_score(SORTED, -np.ones(300), LOG_X, 0.1)),
    ("binning cells", lambda k: k.linear_binning(SORTED, None, 0.0, 0.01, 0)),
    ("grid short", lambda k: k.grid_score(LOG_X, 0.0, 0.1, np.ones(1), np.ones(1), 0.0)),
    ("hcal labels", lambda k: k.hcalibration_loss_grad(P10, Y10.astype(np.int64) + 10, 20, 1e-20, 0, True, 1e5, True)),
    ("hcal window", lambda k: k.hcalibration_loss_grad(P10, Y10.astype(np.int64), 3, 1e-20, 0, True, 1e5, True)),
    ("det_log zero", lambda k: k.det_log(np.array([1.0, 0.0]))),
    ("fine_cell range", lambda k: k.fine_cell(np.array([0.5, 1.5]))),
]


def _outcome(call: Callable[[Any], Any], kernels: Any) -> tuple[type, str]:
    try:
        call(kernels)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError("no exception")


@pytest.mark.parametrize("case", [c for c, _ in BAD])
def test_bad_input_is_refused_alike(backend: str, case: str) -> None:
    call = dict(BAD)[case]
    ref_type, ref_msg = _outcome(call, REFERENCE)
    got_type, got_msg = _outcome(call, _backend.resolve(backend))
    assert got_type is ref_type, (
        f"{backend} raised {got_type.__name__}({got_msg}) where numpy raised {ref_type.__name__}"
    )
    assert got_msg == ref_msg


def test_failed_accumulate_changes_nothing(backend: str) -> None:
    k = _backend.resolve(backend)
    acc = _accumulate(k, 15, 1, P1, Y1, 0)
    before = acc.copy()
    scores = P1.copy()
    scores[-1] = np.nan  # the last row: a kernel that added as it went would have changed acc
    with pytest.raises(ValueError, match="NaN"):
        k.accumulate(acc, 15, 1, 7, scores, Y1, 0)
    np.testing.assert_array_equal(acc, before)


def test_failed_accumulate_checked_changes_nothing(backend: str) -> None:
    k = _backend.resolve(backend)
    acc = _checked(k, 15, 1, P1, Y1, 0, W1)
    before = acc.copy()
    weights = W1.copy()
    weights[-1] = -1.0  # the last row: a kernel that added as it went would have changed acc
    with pytest.raises(ValueError, match="sample_weight must be >= 0: 1 value"):
        k.accumulate_checked(acc, 15, 1, 7, P1, Y1, 0, weights, -1.0)
    rows = P10.copy()
    rows[-1] *= 1.5
    acc2 = _checked(k, 15, 1, P10, Y10, 1, None)
    before2 = acc2.copy()
    with pytest.raises(ValueError, match="each row of scores must sum to 1"):
        k.accumulate_checked(acc2, 15, 1, 7, rows, Y10, 1, None, 1e-6)
    np.testing.assert_array_equal(acc, before)
    np.testing.assert_array_equal(acc2, before2)


# --------------------------------------------------------------- the extension on its own

HOSTILE = r"""
import numpy as np
import calipers._core as c
rng = np.random.default_rng(0)
arrays = [np.zeros(0), np.ones(5), np.full(5, np.nan), np.full(5, 1e308), np.full(5, -3.0), np.ones((4, 3)),
          np.ones((4, 0)), np.ones(5, np.float16), np.ones(5, np.float32), np.ones(10)[::2], np.ones(5, '>f8'),
          np.arange(5), np.arange(5) - 9, np.full(5, 2**62), np.ones(5, bool), np.array(['a']),
          np.zeros(c.GRID_CELLS, np.uint64), None, 3, -1, 2**40, 0.5, float('nan')]
names = [n for n in dir(c) if not n.startswith('_') and callable(getattr(c, n)) and n not in ('set_num_threads',)]
calls = 0
for name in names:
    fn = getattr(c, name)
    for arity in range(1, 8):
        for _ in range(250):
            args = [arrays[i] for i in rng.integers(0, len(arrays), arity)]
            try:
                fn(*args)
            except (TypeError, ValueError, OverflowError):
                pass
            calls += 1
print("calls", calls)
"""


def test_core_survives_hostile_direct_calls() -> None:
    pytest.importorskip("calipers._core")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(HOSTILE)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the extension crashed or raised something else:\n{proc.stderr[-3000:]}"
    assert int(proc.stdout.split()[-1]) > 5000
