"""Corrupted blobs and JSON of every serializable type either raise (ValueError, or
TypeError for a wrong kind of object) or load into an object that satisfies every invariant
a fitted or filled one has (tests/invariants.py, one checker per type). The corruption
reaches the parsers: the CRC is recomputed after each mutation. Mutations: header fields
replaced by hostile values (wrong types, huge counts, NaN-like and out-of-range numbers,
shapes), numeric words of the binary payloads replaced by their neighbours and by extreme
values, pairs of words swapped (totals kept, values misplaced), the headers of the sketches
nested in a GroupedSketch, and flipped bits. Each checker is first run on real, filled
objects, so it asks for nothing a real one lacks."""

from __future__ import annotations

import json
import math
import random
import struct
import warnings
import zlib
from typing import Any

import numpy as np
import pytest
from invariants import (
    check_calibrator,
    check_correction,
    check_grouped,
    check_monitor,
    check_ppi_sketch,
    check_quantile,
    check_regression_sketch,
    check_reliability_sketch,
    check_sdm,
)
from mutations import leaves, replaced

import calipers
from calipers import (
    BetaCalibration,
    CalibrationMonitor,
    GroupedSketch,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    QuantileSketch,
    ReliabilitySketch,
    ScalingBinning,
    SDMEstimator,
    TemperatureScaling,
)
from calipers._common import serde
from calipers.debias import Correction, LinearCalibrationCorrection, PPISketch, RegressionSketch, TweedieCorrection

HOSTILE = [None, -1, 0, 1, 2, 10**9, 2**63, -(2**63), "x", "", [], {}, 0.5, 1.5, -0.5, 3, 1e308, -1e308, 1e-320, True]
HOSTILE += [[1, 2], [[1]], ["a", "<f8", [10**12]], [0.5, 0.2], [-1.0], {"a": 1}, 1e-300, 0.9, 0.99]


def _quiet(fn: Any, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


# ------------------------------------------------------------------ real objects


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def reliability_sketches() -> dict[str, ReliabilitySketch]:
    r = _rng(0)
    p = np.concatenate([r.beta(0.5, 0.5, 400), [0.0, 1.0, 0.5]])
    y = (r.random(p.size) < p).astype(int)
    P = r.dirichlet(np.ones(3), 300)
    L = r.integers(0, 3, 300)
    return {
        "binary": ReliabilitySketch(7).update(p, y),
        "top-label": ReliabilitySketch(5).update(P, L),
        "marginal": ReliabilitySketch(4, classes=3).update(P, L),
        "replicates": ReliabilitySketch(6, replicates=3, seed=0).update(p, y),
        "compact": ReliabilitySketch(5, grid="compact").update(p, y),
        "no-grid": ReliabilitySketch(5, grid=None).update(P, L),
        "empty": ReliabilitySketch(3),
    }


def grouped() -> GroupedSketch:
    r = _rng(1)
    p = r.random(200)
    return GroupedSketch(6).update(p, (r.random(200) < p).astype(int), r.choice(["a", "b", "c"], 200))


def quantiles() -> dict[str, QuantileSketch]:
    r = _rng(2)
    return {
        "compacted": QuantileSketch(k=8, seed=0).update(r.normal(size=500)),
        "exact": QuantileSketch(k=64, seed=0).update(r.normal(size=40)),
        "empty": QuantileSketch(k=8),
    }


def calibrators() -> dict[str, calipers.Calibrator]:
    r = _rng(3)
    p = np.concatenate([r.random(300), [0.0, 1.0]])
    y = (r.random(p.size) < p**1.3).astype(int)
    P = r.dirichlet(np.ones(3), 300)
    L = np.array([r.choice(3, p=row) for row in P])
    makers = {
        "platt": lambda: PlattScaling(),
        "platt-C": lambda: PlattScaling(C=1.0),
        "platt-smooth": lambda: PlattScaling(smoothing=True),
        "beta": lambda: BetaCalibration(),
        "isotonic": lambda: IsotonicCalibration(),
        "histogram": lambda: HistogramBinning(6),
        "histogram-raw": lambda: HistogramBinning(6, monotone=False),
        "histogram-uc": lambda: HistogramBinning(6, compat="uncertainty-calibration"),
        "scaling": lambda: ScalingBinning(6),
        "scaling-uc": lambda: ScalingBinning(6, compat="uncertainty-calibration"),
    }
    out: dict[str, calipers.Calibrator] = {}
    for name, make in makers.items():
        out[name] = _quiet(make().fit, p, y)
        out[name + "-top"] = _quiet(make().fit, P, L)
        out[name + "-marginal"] = _quiet(make().set_params(mode="marginal").fit, P, L)
    out["unfitted"] = HistogramBinning(4)
    Z = np.log(P)
    out["temperature"] = TemperatureScaling().fit(Z, L)
    out["hcal"] = calipers.HCalibration(temperatures=3, max_epochs=5).fit(Z, L)
    return out


def sdm() -> SDMEstimator:
    r = _rng(4)
    centers = 3 * _rng(99).normal(size=(3, 4))

    def data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        yy = r.integers(0, 3, n)
        h = centers[yy] + r.normal(size=(n, 4))
        return h, 3 * np.eye(3)[yy] + r.normal(size=(n, 3)), yy

    est = SDMEstimator(alpha=0.9, k=50).fit(*data(300), *data(300))
    assert math.isfinite(est.q_prime_min)  # a region exists: the thresholds are live
    return est


def monitor() -> CalibrationMonitor:
    r = _rng(5)
    m = CalibrationMonitor(bins=5, window=10.0, history=4, grid=(3, 1))
    for t in (0.0, 11.0, 25.0):
        p = r.random(60)
        m.record_many(p, (r.random(60) < p).astype(int), groups=r.choice(["a", "b"], 60), t=t)
    m.predicted("k1", 0.4, group="a", t=25.0)
    return m


def corrections() -> dict[str, Correction]:
    r = _rng(6)
    truth = r.normal(size=400)
    pred = 0.6 * truth + 0.3 * r.normal(size=400)
    return {
        "lcc": LinearCalibrationCorrection().fit(pred, truth),
        "tweedie": TweedieCorrection().fit(pred, truth),
        "tweedie-fd": TweedieCorrection(score="finite-difference").fit(pred, truth),
        "tweedie-sketch": TweedieCorrection().fit_sketch(RegressionSketch(16).update(pred, truth)),
    }


def regression_sketches() -> dict[str, RegressionSketch]:
    r = _rng(7)
    truth = r.normal(size=300)
    return {
        "filled": RegressionSketch(16).update(0.5 * truth + 0.2 * r.normal(size=300), truth),
        "empty": RegressionSketch(),
    }


def ppi_sketch() -> PPISketch:
    r = _rng(8)
    y = r.normal(size=100)
    return PPISketch().update_labeled(y, y + 0.3 * r.normal(size=100)).update_unlabeled(r.normal(size=500))


# ------------------------------------------------------------------ the property


LOADERS = {
    "reliability": (ReliabilitySketch.from_bytes, check_reliability_sketch),
    "grouped": (GroupedSketch.from_bytes, check_grouped),
    "quantile": (QuantileSketch.from_bytes, check_quantile),
    "calibrator": (calipers.Calibrator.from_bytes, check_calibrator),
    "sdm": (SDMEstimator.from_bytes, check_sdm),
    "monitor": (CalibrationMonitor.from_bytes, check_monitor),
    "correction": (Correction.from_bytes, check_correction),
    "regression": (RegressionSketch.from_bytes, check_regression_sketch),
    "ppi": (PPISketch.from_bytes, check_ppi_sketch),
}


def raises_or_valid(kind: str, blob: bytes) -> bool:
    """The property: the loader raises ValueError/TypeError, or what it returns passes the
    invariant checker of its type. Returns True when the blob loaded."""
    load, check = LOADERS[kind]
    try:
        obj = _quiet(load, blob)
    except (ValueError, TypeError):
        return False
    try:
        _quiet(check, obj)
    except AssertionError as exc:
        raise AssertionError(f"a corrupted {kind} blob loaded into an invalid object: {exc}") from exc
    return True


def _objects() -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    out += [("reliability", name, s) for name, s in reliability_sketches().items()]
    out.append(("grouped", "grouped", grouped()))
    out += [("quantile", name, q) for name, q in quantiles().items()]
    out += [("calibrator", name, c) for name, c in calibrators().items()]
    out.append(("sdm", "sdm", sdm()))
    out.append(("monitor", "monitor", monitor()))
    out += [("correction", name, c) for name, c in corrections().items()]
    out += [("regression", name, s) for name, s in regression_sketches().items()]
    out.append(("ppi", "ppi", ppi_sketch()))
    return out


OBJECTS = _objects()
IDS = [f"{kind}-{name}" for kind, name, _ in OBJECTS]


@pytest.mark.parametrize("index", range(len(OBJECTS)), ids=IDS)
def test_the_checkers_accept_real_objects(index):
    """Every checker passes on real filled and fitted objects (it asks nothing they lack),
    and on their round trips."""
    kind, _, obj = OBJECTS[index]
    load, check = LOADERS[kind]
    _quiet(check, obj)
    _quiet(check, _quiet(load, obj.to_bytes()))


def _is_envelope(blob: bytes) -> bool:
    """Every type but ReliabilitySketch wraps its payload in the 20-byte envelope."""
    return blob[5] != serde.TYPE_RELIABILITY_SKETCH


def _payload(blob: bytes) -> bytes:
    return blob[20:-4] if _is_envelope(blob) else blob[serde.HEADER_SIZE : -4]


def _reseal(blob: bytes, payload: bytes) -> bytes:
    """``blob`` around a new payload, its length fields and CRC recomputed."""
    if _is_envelope(blob):
        return serde.pack_payload(blob[5], payload)
    head = bytearray(blob[: serde.HEADER_SIZE])
    head[32:40] = struct.pack("<Q", len(payload) // 8)
    return _crc(bytes(head) + payload)


def _crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def _sketch_header_mutations(blob: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """ReliabilitySketch's fixed header (flags, kind, bins, streams, grid, row_sum_atol)."""
    if _is_envelope(blob):
        return []
    fields = [(6, "<B"), (7, "<B"), (8, "<I"), (12, "<I"), (16, "<I"), (20, "<I"), (24, "<d")]
    ints = [0, 1, 2, 3, 4, 7, 15, 16, 31, 255, 2**31, 2**32 - 1]
    floats = [0.0, -1.0, 1e-4, 1e300, float("nan"), float("inf")]
    out = []
    for offset, fmt in fields:
        for value in floats if fmt == "<d" else ints:
            if fmt == "<B" and value > 255:
                continue
            body = bytearray(blob[:-4])
            body[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
            out.append(_crc(bytes(body)))
    rnd.shuffle(out)
    return out[:count]


def _json_head(payload: bytes) -> tuple[dict[str, Any], bytes] | None:
    try:
        (hlen,) = struct.unpack_from("<I", payload)
        head = json.loads(payload[4 : 4 + hlen])
    except (struct.error, ValueError, UnicodeDecodeError):
        return None
    return (head, payload[4 + hlen :]) if isinstance(head, dict) else None


def _header_mutations(blob: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """JSON-headed binary formats (grouped, quantile, SDM, monitor): every header leaf (and
    every list and object) replaced by hostile values, then random ones."""
    parsed = _json_head(_payload(blob))
    if parsed is None:
        return []
    head, body = parsed
    out = []
    paths = leaves(head)
    for path in paths:
        for value in HOSTILE:
            out.append((path, value))
    rnd.shuffle(out)
    blobs = []
    for path, value in out[:count]:
        text = json.dumps(replaced(head, path, value)).encode()
        blobs.append(_reseal(blob, struct.pack("<I", len(text)) + text + body))
    return blobs


def _word_mutations(blob: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """Binary payloads: an aligned 8-byte word replaced by extreme or nearby values (as
    integers and as doubles), so counts, sums and moments go out of line with each other."""
    payload = bytearray(_payload(blob))
    parsed = _json_head(bytes(payload))
    start = 0 if parsed is None else len(payload) - len(parsed[1])
    words = list(range(start, len(payload) - 7, 8))
    if not words:
        return []
    values = [
        struct.pack("<Q", 0),
        struct.pack("<Q", 1),
        struct.pack("<Q", 2**63),
        struct.pack("<Q", 2**64 - 1),
        struct.pack("<d", -1.0),
        struct.pack("<d", 1e300),
        struct.pack("<d", float("nan")),
        struct.pack("<d", float("inf")),
        struct.pack("<d", 0.5),
        struct.pack("<d", 2.0),
    ]
    blobs = []
    for _ in range(count):
        i = rnd.choice(words)
        mutated = bytearray(payload)
        if rnd.random() < 0.5:
            mutated[i : i + 8] = rnd.choice(values)
        else:  # a nearby value: the integer +- 1, or the double scaled slightly
            (as_int,) = struct.unpack_from("<Q", mutated, i)
            (as_float,) = struct.unpack_from("<d", mutated, i)
            if rnd.random() < 0.5:
                mutated[i : i + 8] = struct.pack("<Q", (as_int + rnd.choice([1, -1, 2, 1 << 20])) % 2**64)
            elif math.isfinite(as_float):
                mutated[i : i + 8] = struct.pack("<d", as_float * rnd.choice([0.5, 1.5, -1.0, 1 + 1e-6, 10.0]))
        blobs.append(_reseal(blob, bytes(mutated)))
    return blobs


def _word_swaps(blob: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """Two aligned 8-byte words of a binary payload swapped: totals stay the same while the
    values move to places where they may not belong (cell offsets, counts, sums)."""
    payload = bytearray(_payload(blob))
    parsed = _json_head(bytes(payload))
    start = 0 if parsed is None else len(payload) - len(parsed[1])
    words = list(range(start, len(payload) - 7, 8))
    if len(words) < 2:
        return []
    blobs = []
    stride = 8 * 4 if not _is_envelope(blob) else 8  # a sketch cell is 4 words: the same field of the next cell
    bins = [] if _is_envelope(blob) else words[: 4 * struct.unpack_from("<I", blob, 8)[0]]
    for _ in range(count):
        i, j = rnd.sample(words, 2)
        if bins and rnd.random() < 0.5:  # the equal-width bins: a few words among thousands of grid cells
            i = rnd.choice(bins)
        if rnd.random() < 0.6:  # neighbours in one array are the likeliest to pass the other checks
            j = i + stride if i + stride in words else i - stride
        mutated = bytearray(payload)
        mutated[i : i + 8], mutated[j : j + 8] = payload[j : j + 8], payload[i : i + 8]
        blobs.append(_reseal(blob, bytes(mutated)))
    return blobs


def _inner_sketch_mutations(blob: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """A GroupedSketch holds whole ReliabilitySketch blobs (each with its own CRC): mutate the
    header of one of them, reseal it, and reseal the grouped blob around it."""
    parsed = _json_head(_payload(blob))
    if parsed is None or "template" not in parsed[0]:
        return []
    head, body = parsed
    sizes = [head["template"], *head["sizes"]]
    parts, pos = [], 0
    for size in sizes:
        parts.append(body[pos : pos + size])
        pos += size
    text = _payload(blob)[: len(_payload(blob)) - len(body)]
    blobs = []
    for index in range(len(parts)):
        for inner in _sketch_header_mutations(parts[index], rnd, count):
            if len(inner) == len(parts[index]):
                blobs.append(_reseal(blob, text + b"".join(parts[:index] + [inner] + parts[index + 1 :])))
    rnd.shuffle(blobs)
    return blobs[:count]


def _bit_flips(blob: bytes, rnd: random.Random, count: int) -> list[bytes]:
    payload = _payload(blob)
    blobs = []
    for _ in range(count):
        mutated = bytearray(payload)
        mutated[rnd.randrange(len(mutated))] ^= 1 << rnd.randrange(8)
        blobs.append(_reseal(blob, bytes(mutated)))
    return blobs


@pytest.mark.parametrize("index", range(len(OBJECTS)), ids=IDS)
def test_corrupted_blobs_raise_or_load_valid(index):
    kind, name, obj = OBJECTS[index]
    blob = obj.to_bytes()
    rnd = random.Random(f"{kind}-{name}")
    mutations = (
        _header_mutations(blob, rnd, 250)
        + _sketch_header_mutations(blob, rnd, 80)
        + _word_mutations(blob, rnd, 150)
        + _word_swaps(blob, rnd, 100)
        + _inner_sketch_mutations(blob, rnd, 80)
        + _bit_flips(blob, rnd, 60)
    )
    loaded = sum(raises_or_valid(kind, bad) for bad in mutations)
    assert len(mutations) >= 60
    # the CRC alone stops a corruption whose checksum is not recomputed
    for bad in (blob[:-1], blob[:20], blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:]):
        with pytest.raises(ValueError):
            LOADERS[kind][0](bad)
    assert loaded < len(mutations)  # most corruptions are refused (the rest pass every invariant)


JSON_HEADED = [(kind, name, obj) for kind, name, obj in OBJECTS if _json_head(_payload(obj.to_bytes())) is not None]


@pytest.mark.parametrize("index", range(len(JSON_HEADED)), ids=[f"{k}-{n}" for k, n, _ in JSON_HEADED])
def test_every_header_list_one_longer_or_shorter_raises_or_loads_valid(index):
    """Deterministic, not sampled: each list in a JSON header (per-class thresholds, level
    sizes, group sizes, layouts) one item shorter and one longer (its last item repeated)."""
    kind, _, obj = JSON_HEADED[index]
    blob = obj.to_bytes()
    head, body = _json_head(_payload(blob))
    lists = [path for path in leaves(head) if isinstance(_at(head, path), list) and _at(head, path)]
    assert lists, "every JSON-headed format has at least one list"
    loaded = 0
    for path in lists:
        items = _at(head, path)
        for changed in (items[:-1], items + items[-1:]):
            text = json.dumps(replaced(head, path, changed)).encode()
            loaded += raises_or_valid(kind, _reseal(blob, struct.pack("<I", len(text)) + text + body))
    assert loaded < 2 * len(lists)


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _calibrator_json_mutations(text: str) -> list[str]:
    doc = json.loads(text)
    return [json.dumps(replaced(doc, path, value)) for path in leaves(doc) for value in HOSTILE]


CALIBRATORS = [(name, c) for kind, name, c in OBJECTS if kind == "calibrator"]


@pytest.mark.parametrize("index", range(len(CALIBRATORS)), ids=[n for n, _ in CALIBRATORS])
def test_every_corrupted_calibrator_json_field_raises_or_loads_valid(index):
    """Every leaf (and every list and object) of the JSON replaced by each hostile value."""
    _, cal = CALIBRATORS[index]
    for text in _calibrator_json_mutations(cal.to_json()):
        try:
            back = _quiet(calipers.Calibrator.from_json, text)
        except (ValueError, TypeError):
            continue
        try:
            _quiet(check_calibrator, back)
        except AssertionError as exc:
            raise AssertionError(f"corrupted JSON loaded into an invalid calibrator: {text[:300]}: {exc}") from exc


CORRECTIONS = [(name, c) for kind, name, c in OBJECTS if kind == "correction"]


@pytest.mark.parametrize("index", range(len(CORRECTIONS)), ids=[n for n, _ in CORRECTIONS])
def test_every_corrupted_correction_json_field_raises_or_loads_valid(index):
    _, corr = CORRECTIONS[index]
    doc = json.loads(corr.to_json())
    for path in leaves(doc):
        if "points" in path or "weights" in path:
            values = HOSTILE[:12]
        else:
            values = HOSTILE
        for value in values:
            text = json.dumps(replaced(doc, path, value))
            try:
                back = _quiet(Correction.from_json, text)
            except (ValueError, TypeError):
                continue
            try:
                _quiet(check_correction, back)
            except AssertionError as exc:
                raise AssertionError(
                    f"corrupted JSON loaded into an invalid correction: {path}={value!r}: {exc}"
                ) from exc


# ------------------------------------------------------------------ numbers stay numbers


def _node(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _json_views(kind: str, obj: Any) -> tuple[Any, Any] | None:
    """(document, loader of a changed document's JSON text) for each format holding JSON."""
    if kind in ("calibrator", "correction"):
        family = calipers.Calibrator if kind == "calibrator" else Correction
        return json.loads(obj.to_json()), family.from_json
    blob = obj.to_bytes()
    parsed = _json_head(_payload(blob))
    if parsed is None:
        return None
    head, body = parsed
    load = LOADERS[kind][0]

    def from_head(text: str) -> Any:
        raw = text.encode()
        return load(_reseal(blob, struct.pack("<I", len(raw)) + raw + body))

    return head, from_head


NUMBER_OBJECTS = [(kind, name, obj) for kind, name, obj in OBJECTS if _json_views(kind, obj) is not None]


@pytest.mark.parametrize("index", range(len(NUMBER_OBJECTS)), ids=[f"{k}-{n}" for k, n, _ in NUMBER_OBJECTS])
def test_a_saved_number_written_as_a_string_or_boolean_is_refused(index):
    """float("1_0") is 10.0 and float(True) is 1.0: every number a writer saved must be read
    back as a JSON number, so its string spellings ("1_0", " 2 ", "0x1p0", str(value)) and
    true are refused by every loader (hardening3 item 13), with a ValueError."""
    kind, _, obj = NUMBER_OBJECTS[index]
    views = _json_views(kind, obj)
    assert views is not None
    doc, load = views
    numbers = [
        p for p in leaves(doc) if isinstance(_node(doc, p), (int, float)) and not isinstance(_node(doc, p), bool)
    ]
    assert numbers
    for path in numbers:
        value = _node(doc, path)
        field = path[-1] if isinstance(path[-1], str) else None  # list items: the message shows the list
        for bad in (str(value), f" {value} ", "1_0", "0x1p0", True):
            with pytest.raises(ValueError) as err:
                _quiet(load, json.dumps(replaced(doc, path, bad)))
            # the message names the field (the format version by its words)
            assert field is None or field in str(err.value) or field.replace("_", " ") in str(err.value), (path, err)


def _emit(node: Any, twice: tuple[Any, ...], path: tuple[Any, ...] = ()) -> str:
    """JSON text of ``node`` with the first key of the object at ``twice`` written twice."""
    if isinstance(node, dict):
        items = [f"{json.dumps(k)}: {_emit(v, twice, path + (k,))}" for k, v in node.items()]
        if path == twice and items:
            items.insert(1, items[0])
        return "{" + ", ".join(items) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_emit(v, twice, path + (i,)) for i, v in enumerate(node)) + "]"
    return json.dumps(node)


@pytest.mark.parametrize("index", range(len(NUMBER_OBJECTS)), ids=[f"{k}-{n}" for k, n, _ in NUMBER_OBJECTS])
def test_a_key_written_twice_is_refused(index):
    """json.loads keeps the last of two equal keys silently (a tampered "slope" loaded as the
    second value, a "type" as another calibrator): every saved JSON document and header
    refuses any object with a key twice (adversarial pass 3, item 5)."""
    kind, _, obj = NUMBER_OBJECTS[index]
    views = _json_views(kind, obj)
    assert views is not None
    doc, load = views
    objects = [()] + [p for p in leaves(doc) if isinstance(_node(doc, p), dict) and _node(doc, p)]
    for path in objects:
        text = _emit(doc, path)
        assert json.loads(text) == doc  # the same document to a lenient reader
        with pytest.raises(ValueError, match="duplicate key"):
            _quiet(load, text)
