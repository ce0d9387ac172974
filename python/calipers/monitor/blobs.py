"""Loading saved calibration state: monitor bytes or sketch bytes, whichever a file holds."""

from __future__ import annotations

from .._common import serde as _serde
from ..streaming.sketch import ReliabilitySketch
from .codec import TYPE_MONITOR
from .core import CalibrationMonitor

__all__ = ["load_sketch_bytes"]


def load_sketch_bytes(data: bytes) -> ReliabilitySketch:
    """A ReliabilitySketch from ``ReliabilitySketch.to_bytes()`` or from
    ``CalibrationMonitor.to_bytes()`` (then: every record of the monitor's ring, the
    exact merge of its windows). Raises ValueError on anything else."""
    if isinstance(data, (bytes, bytearray, memoryview)) and len(data) > 5 and bytes(data[5:6]) == bytes([TYPE_MONITOR]):
        return CalibrationMonitor.from_bytes(bytes(data)).sketch()
    return ReliabilitySketch.from_bytes(data)


assert _serde.HEADER_SIZE == 40  # the type id is byte 5 of every calipers blob
