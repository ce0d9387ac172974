"""Versioned binary format: round trips, committed v1 blobs, corruption fuzzing, pickle."""

from __future__ import annotations

import copy
import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import calipers
from calipers import ReliabilitySketch

DATA = Path(__file__).parent / "data"


def _filled(classes=None):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    if classes is None:
        return ReliabilitySketch(12).update(rng.random(500), rng.integers(0, 2, 500))
    P = rng.dirichlet(np.ones(classes), 400)
    return ReliabilitySketch(12, classes=classes).update(P, rng.integers(0, classes, 400))


SKETCHES = {
    "binary": lambda: _filled(),
    "marginal": lambda: _filled(4),
    "top-label": lambda: ReliabilitySketch(8).update(
        np.random.default_rng(1).dirichlet(np.ones(3), 50), np.random.default_rng(2).integers(0, 3, 50)
    ),
    "empty": lambda: ReliabilitySketch(3),
}


@pytest.mark.parametrize("name", list(SKETCHES))
@pytest.mark.parametrize(
    "copy_fn",
    [
        lambda s: pickle.loads(pickle.dumps(s, protocol=2)),
        lambda s: pickle.loads(pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL)),
        copy.copy,
        copy.deepcopy,
        lambda s: ReliabilitySketch.from_bytes(s.to_bytes()),
    ],
)
def test_round_trip_is_byte_identical(name, copy_fn):  # type: ignore[no-untyped-def]
    s = SKETCHES[name]()
    t = copy_fn(s)
    assert t.to_bytes() == s.to_bytes()
    assert (t.bins, t.classes, t.kind, t.count) == (s.bins, s.classes, s.kind, s.count)


@pytest.mark.parametrize("name", ["binary", "marginal", "top-label", "empty"])
def test_committed_v1_blobs_still_load(name):  # type: ignore[no-untyped-def]
    expected = json.loads((DATA / "reliability_sketch_v1.json").read_text())[name]
    s = ReliabilitySketch.from_bytes((DATA / f"reliability_sketch_v1_{name}.bin").read_bytes())
    assert s.count == expected["count"]
    assert s.kind == expected["kind"]
    if s.count:
        for key, value in expected["metrics"].items():
            assert s.metrics()[key] == pytest.approx(value, rel=1e-12), key


def test_this_build_reproduces_the_committed_blobs():
    """Same data, same bytes: kernels stay bit-compatible with states already stored."""
    import runpy

    made = runpy.run_path(str(DATA / "make_blobs.py"), run_name="not_main")["sketches"]
    for name, sketch in made.items():
        assert sketch.to_bytes() == (DATA / f"reliability_sketch_v1_{name}.bin").read_bytes(), name


def _corruptions(blob: bytes):  # type: ignore[no-untyped-def]
    yield blob[:-1]
    yield blob[:10]
    yield b""
    yield blob + b"\x00"
    yield b"XXXX" + blob[4:]
    yield blob[:4] + b"\x09" + blob[5:]  # unknown version
    yield blob[:5] + b"\x07" + blob[6:]  # wrong type


def _resealed(blob: bytes, offset: int, value: bytes) -> bytes:
    body = bytearray(blob[:-4])
    body[offset : offset + len(value)] = value
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)


def test_corrupted_blobs_raise_value_error():
    blob = _filled().to_bytes()
    for bad in _corruptions(blob):
        with pytest.raises(ValueError):
            ReliabilitySketch.from_bytes(bad)
    with pytest.raises(ValueError, match="version 9"):
        ReliabilitySketch.from_bytes(blob[:4] + b"\x09" + blob[5:])
    # structurally valid but inconsistent payloads (CRC recomputed) are caught too
    with pytest.raises(ValueError, match="inconsistent"):
        ReliabilitySketch.from_bytes(_resealed(blob, 40, struct.pack("<Q", 10**9)))
    with pytest.raises(ValueError, match="positives"):
        ReliabilitySketch.from_bytes(_resealed(blob, 48, struct.pack("<Q", 10**9)))
    with pytest.raises(ValueError, match="kind"):
        ReliabilitySketch.from_bytes(_resealed(blob, 7, b"\x09"))
    with pytest.raises(ValueError, match="payload"):
        ReliabilitySketch.from_bytes(_resealed(blob, 8, struct.pack("<I", 13)))
    with pytest.raises(TypeError):
        ReliabilitySketch.from_bytes("not bytes")  # type: ignore[arg-type]


@given(st.data())
def test_fuzz_bit_flips_and_truncations(data):  # type: ignore[no-untyped-def]
    blob = _filled(3).to_bytes() if data.draw(st.booleans()) else _filled().to_bytes()
    action = data.draw(st.sampled_from(["flip", "truncate", "random", "splice"]))
    if action == "flip":
        bit = data.draw(st.integers(0, len(blob) * 8 - 1))
        bad = bytearray(blob)
        bad[bit // 8] ^= 1 << (bit % 8)
        bad = bytes(bad)
    elif action == "truncate":
        bad = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif action == "random":
        bad = data.draw(st.binary(max_size=200))
    else:
        bad = blob[:40] + data.draw(st.binary(min_size=1, max_size=64)) + blob[40:]
    with pytest.raises(ValueError):
        ReliabilitySketch.from_bytes(bad)


def test_every_kind_of_blob_has_its_own_type_id():
    """A blob handed to another kind's loader fails on its type id (the monitor once shared
    the quantile sketch's id)."""
    import numpy as np

    from calipers._common import serde

    ids = {name: value for name, value in vars(serde).items() if name.startswith("TYPE_")}
    assert len(set(ids.values())) == len(ids), ids
    p = np.array([0.2, 0.7, 0.9])
    y = np.array([0, 1, 1])
    monitor = calipers.CalibrationMonitor()
    monitor.record_many(p, y, t=0.0)
    blobs = {
        "reliability": calipers.ReliabilitySketch().update(p, y).to_bytes(),
        "grouped": calipers.GroupedSketch().update(p, y, ["a", "b", "a"]).to_bytes(),
        "quantile": calipers.QuantileSketch().update(p).to_bytes(),
        "calibrator": calipers.HistogramBinning(2).fit(p, y).to_bytes(),
        "monitor": monitor.to_bytes(),
    }
    loaders = {
        "reliability": calipers.ReliabilitySketch.from_bytes,
        "grouped": calipers.GroupedSketch.from_bytes,
        "quantile": calipers.QuantileSketch.from_bytes,
        "calibrator": calipers.Calibrator.from_bytes,
        "monitor": calipers.CalibrationMonitor.from_bytes,
    }
    for kind, blob in blobs.items():
        assert loaders[kind](blob) is not None
        for other, load in loaders.items():
            if other != kind:
                with pytest.raises(ValueError):
                    load(blob)
