"""Versioned binary format of calipers states (little-endian).

Layout of a ReliabilitySketch blob, format versions 1 and 2 (2 only for a sketch holding
fractional sample weights: flag bit 2, every count and sum then carries 24 fractional bits;
version 1 readers refuse it by its version):

    offset size  field
    0      4     magic b"CLPR"
    4      1     format version (1)
    5      1     type id (1 = ReliabilitySketch)
    6      1     flags (bit 0: empty; bit 1: bootstrap replicates follow the state;
                 bit 2: weighted, counts and sums in units of 2^-24, version 2 only)
    7      1     kind (0 unset, 1 binary, 2 top-label, 3 marginal)
    8      4     bins (u32)
    12     4     streams (u32; classes in marginal mode, else 1)
    16     4     fine-grid octaves (u32)
    20     4     fine-grid sub-bits (u32)
    24     8     row_sum_atol (f64)
    32     8     payload length in u64 words
    40     8w    payload: the uint64 state (see cpp/include/calipers/sketch.hpp)
    40+8w  4     CRC-32 (zlib) of every byte before it

With flag bit 1 the payload is the state, then R (u64), then R x (2 bins) x (count, score
sum) float64 bit patterns of the streaming bootstrap (older readers reject the length).

Every field and length is checked before the payload is read; any mismatch raises
ValueError naming the field.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

MAGIC = b"CLPR"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1, 2)
# Type ids: one per kind of blob, never reused (a blob read as another kind must fail).
TYPE_RELIABILITY_SKETCH = 1
TYPE_CALIBRATOR = 2
TYPE_GROUPED_SKETCH = 3
TYPE_QUANTILE_SKETCH = 4
TYPE_SDM = 5
TYPE_MONITOR = 6
TYPE_SAVED_SCORE = 8  # what `calipers score --save-sketch` writes (calipers.cli.saved)
TYPE_CORRECTION = 10  # a fitted LCC or Tweedie correction (calipers.debias)
TYPE_REGRESSION_SKETCH = 11
TYPE_PPI_SKETCH = 12
_HEADER = struct.Struct("<4sBBBBIIIIdQ")
HEADER_SIZE = _HEADER.size  # 40
FLAG_EMPTY = 1
FLAG_REPLICATES = 2  # the payload ends with R and R x 2 bins x 2 doubles (ReliabilitySketch(replicates=R))
FLAG_WEIGHTED = 4  # counts and sums carry 24 fractional bits of sample weight (format version 2)


def pack(
    type_id: int,
    flags: int,
    kind: int,
    bins: int,
    streams: int,
    octaves: int,
    sub_bits: int,
    row_sum_atol: float,
    payload: np.ndarray,
    version: int = FORMAT_VERSION,
) -> bytes:
    words = np.ascontiguousarray(payload, dtype="<u8")
    head = _HEADER.pack(
        MAGIC, version, type_id, flags, kind, bins, streams, octaves, sub_bits, row_sum_atol, words.size
    )
    body = head + words.tobytes()
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def _open(data: object, header: struct.Struct, expected_type: int) -> tuple[bytes, tuple[Any, ...]]:
    """Bytes and unpacked header after the checks every calipers blob shares: kind of
    object, minimum size, magic, format version and type id."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"from_bytes expects bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < header.size + 4:
        raise ValueError(f"calipers blob truncated: {len(data)} bytes, the header alone needs {header.size + 4}")
    fields = header.unpack_from(data)
    magic, version, type_id = fields[:3]
    if magic != MAGIC:
        raise ValueError(f"not a calipers blob: magic {magic!r}, expected {MAGIC!r}")
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"unsupported calipers format version {version} "
            f"(this build reads {READABLE_VERSIONS[0]}-{READABLE_VERSIONS[-1]})"
        )
    if type_id != expected_type:
        raise ValueError(
            f"calipers blob holds {_type_name(type_id)} (type {type_id}), expected "
            f"{_type_name(expected_type)} (type {expected_type})"
        )
    return data, fields


def _check_crc(data: bytes, end: int) -> None:
    (crc,) = struct.unpack_from("<I", data, end)
    if zlib.crc32(data[:end]) & 0xFFFFFFFF != crc:
        raise ValueError("calipers blob is corrupted: CRC-32 mismatch")


def unpack(data: bytes, expected_type: int) -> tuple[tuple[int, ...], float, np.ndarray]:
    """Return ((flags, kind, bins, streams, octaves, sub_bits), row_sum_atol, payload)."""
    data, fields = _open(data, _HEADER, expected_type)
    version = fields[1]
    flags, kind, bins, streams, octaves, sub_bits, atol, words = fields[3:]
    if bool(flags & FLAG_WEIGHTED) != (version == 2):
        raise ValueError(
            f"calipers blob version {version} with flags {flags:#x}: the weighted flag goes with version 2"
        )
    expected_len = HEADER_SIZE + 8 * words + 4
    if len(data) != expected_len:
        raise ValueError(
            f"calipers blob length {len(data)} does not match its header "
            f"({words} payload words -> {expected_len} bytes): truncated or padded"
        )
    _check_crc(data, expected_len - 4)
    if not np.isfinite(atol) or atol < 0:
        raise ValueError(f"calipers blob has an invalid row_sum_atol {atol!r}")
    payload = np.frombuffer(data, dtype="<u8", count=words, offset=HEADER_SIZE).astype(np.uint64)
    return (flags, kind, bins, streams, octaves, sub_bits), float(atol), payload


# Calibrators and other small states: magic, version, type id, flags, reserved (4 bytes),
# payload length in bytes (u64), payload (canonical JSON, UTF-8), CRC-32 of all before it.
_ENVELOPE = struct.Struct("<4sBBBBIQ")

# what each type id holds, for error messages
_TYPE_NAMES = {
    TYPE_RELIABILITY_SKETCH: "a ReliabilitySketch",
    TYPE_CALIBRATOR: "a calibrator",
    TYPE_GROUPED_SKETCH: "a GroupedSketch",
    TYPE_QUANTILE_SKETCH: "a QuantileSketch",
    TYPE_SDM: "an SDMEstimator",
    TYPE_MONITOR: "a CalibrationMonitor (read it with calipers.CalibrationMonitor.from_bytes)",
    TYPE_SAVED_SCORE: "a saved `calipers score` result (read it with calipers.cli.saved.load_saved)",
    TYPE_CORRECTION: "a debiasing correction (read it with calipers.debias.Correction.from_bytes)",
    TYPE_REGRESSION_SKETCH: "a calipers.debias.RegressionSketch",
    TYPE_PPI_SKETCH: "a calipers.debias.PPISketch",
}


def _type_name(type_id: int) -> str:
    return _TYPE_NAMES.get(type_id, "an unknown type")


def pack_payload(type_id: int, payload: bytes) -> bytes:
    body = _ENVELOPE.pack(MAGIC, FORMAT_VERSION, type_id, 0, 0, 0, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def unpack_payload(data: bytes, expected_type: int) -> bytes:
    data, fields = _open(data, _ENVELOPE, expected_type)
    flags, reserved, _, length = fields[3:]
    head = _ENVELOPE.size
    if flags or reserved:
        raise ValueError("calipers blob has unknown flags set")
    if len(data) != head + length + 4:
        raise ValueError(f"calipers blob length {len(data)} does not match its header ({length} payload bytes)")
    _check_crc(data, head + length)
    return data[head : head + length]


class EqualBytes:
    """Mixin: two objects of one type are equal when their :meth:`to_bytes` are (the exact
    state, not its metrics); unhashable, since the state changes with every update."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        """The serialized state (each class using the mixin defines it)."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, EqualBytes)
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]
