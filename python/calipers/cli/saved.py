"""The file ``calipers score --save-sketch`` writes and ``calipers merge`` reads: everything a
score run computed (the overall sketch, the per-group and per-window sketches, the rows
and the skip counts with the first file:line of each reason) in one versioned blob.

Layout: the calipers envelope (magic, format version, type 8, payload length, CRC-32; see
:mod:`calipers._common.serde`) around a payload of a u32 header length, a JSON header
``{"format": "calipers.score", "version": 1, "rows", "skipped", "skipped_first", "window",
"by", "time", "sizes": [overall, groups, windows]}`` and the three sketch blobs (a ReliabilitySketch and
two GroupedSketches, each with its own checks; 0 bytes for no groups or no windows). ``load_saved`` also takes a plain
ReliabilitySketch blob (what ``--save-sketch`` wrote before this format): its groups,
windows and skip counts are then empty.

``by`` and ``time`` name the ``--by`` and ``--time`` columns (null: not given). A file saved
before they were recorded lacks them: its columns are *unknown*, and ``calipers merge``
takes an unknown column as matching any; two known names that differ are refused (so are
two different windows). The header is checked like the monitor's settings: ``window`` in
[1e-3, 1e9] seconds, no key twice in any object.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from .._common import jsontext
from .._common import serde as _serde
from ..io.records import Skipped
from ..monitor.settings import MAX_WINDOW, MIN_WINDOW
from ..streaming.grouped import GroupedSketch
from ..streaming.sketch import ReliabilitySketch
from .scored import Scored, grouped

__all__ = ["TYPE_SAVED_SCORE", "SAVED_VERSION", "dump_saved", "load_saved"]

TYPE_SAVED_SCORE = _serde.TYPE_SAVED_SCORE
SAVED_VERSION = 1


def dump_saved(scored: Scored, window: float | None) -> bytes:
    """The saved form of a score run (``window``: the --window length in seconds, or None;
    the --by / --time column names are ``scored.by`` / ``scored.time``)."""
    blobs = [
        scored.sketch.to_bytes(),
        scored.groups.to_bytes() if len(scored.groups) else b"",  # none: 0 bytes
        scored.windows.to_bytes() if len(scored.windows) else b"",
    ]
    header = json.dumps(
        {
            "format": "calipers.score",
            "version": SAVED_VERSION,
            "rows": scored.rows,
            "skipped": scored.skipped.counts,
            "skipped_first": scored.skipped.first,
            "window": window,
            "by": scored.by,
            "time": scored.time,
            "sizes": [len(b) for b in blobs],
        },
        separators=(",", ":"),
        allow_nan=False,
    ).encode()
    return _serde.pack_payload(TYPE_SAVED_SCORE, struct.pack("<I", len(header)) + header + b"".join(blobs))


def _type_id(data: bytes) -> int | None:
    return data[5] if len(data) > 5 and data[:4] == _serde.MAGIC else None


def _skipped(counts: Any, first: Any) -> Skipped:
    if not isinstance(counts, dict) or not isinstance(first, dict) or set(counts) != set(first):
        raise ValueError("skip counts and their first places disagree")
    out = Skipped()
    for reason, count in counts.items():
        where = first[reason]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or not isinstance(where, str):
            raise ValueError(f"skip count of {reason!r} must be a positive integer with a place")
        out.add(reason, where, count)
    return out


def _grouped_part(part: bytes, bins: int, classes: int | None) -> GroupedSketch:
    """The groups or windows of a saved run on the grid they were saved on (``--group-grid``;
    a run saved before that option holds them on the fine grid), or none. ``calipers
    merge`` folds parts of different grids onto :data:`calipers.cli.scored.GROUP_GRID`."""
    if not part:
        return grouped(bins, classes)
    return GroupedSketch.from_bytes(part)


def load_saved(data: bytes) -> tuple[Scored, float | None]:
    """(the score run, its window length or None) from :func:`dump_saved` output or from a
    plain ReliabilitySketch or CalibrationMonitor blob; ValueError for anything else or any inconsistency."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"load_saved expects bytes, got {type(data).__name__}")
    data = bytes(data)
    if _type_id(data) in (_serde.TYPE_RELIABILITY_SKETCH, _serde.TYPE_MONITOR):
        from ..monitor.blobs import load_sketch_bytes  # a CalibrationMonitor: its overall sketch

        sketch = load_sketch_bytes(data)
        bins = sketch.bins
        return Scored(sketch, sketch.count, Skipped(), grouped(bins), grouped(bins)), None
    payload = _serde.unpack_payload(data, TYPE_SAVED_SCORE)
    try:
        (hlen,) = struct.unpack_from("<I", payload)
        header = jsontext.loads(payload[4 : 4 + hlen], object_pairs_hook=jsontext.unique_keys)
        if not isinstance(header, dict) or header.get("format") != "calipers.score":
            raise ValueError("missing format 'calipers.score'")
        if type(header.get("version")) is not int or header["version"] != SAVED_VERSION:  # not true, not 1.0
            raise ValueError(f"unsupported version {header.get('version')!r} (this build reads {SAVED_VERSION})")
        sizes, rows, window = header["sizes"], header["rows"], header["window"]
        if (
            not isinstance(sizes, list)
            or len(sizes) != 3
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in sizes)
            or sizes[0] == 0
        ):
            raise ValueError("sizes must be three integers >= 0, the first > 0")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise ValueError("rows must be a non-negative integer")
        if window is not None and (
            isinstance(window, bool)
            or not isinstance(window, (int, float))
            or not math.isfinite(window)
            or not MIN_WINDOW <= window <= MAX_WINDOW
        ):
            raise ValueError(f"window must be null or a number of seconds in [{MIN_WINDOW:g}, {MAX_WINDOW:g}]")
        columns = {name: header.get(name) for name in ("by", "time")}  # missing (an older file): unknown
        for name, value in columns.items():
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} must be null or a column name")
        skipped = _skipped(header["skipped"], header["skipped_first"])
    except (struct.error, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"calipers saved-score blob has a malformed header: {exc}") from None
    pos = 4 + hlen
    if pos + sum(sizes) != len(payload):
        raise ValueError("calipers saved-score blob sizes do not add up: truncated or padded")
    parts = []
    for size in sizes:
        parts.append(payload[pos : pos + size])
        pos += size
    sketch = ReliabilitySketch.from_bytes(parts[0])
    groups, windows = (_grouped_part(part, sketch.bins, sketch.classes) for part in parts[1:])
    if rows != sketch.count:
        raise ValueError(f"calipers saved-score blob says {rows} rows but its sketch holds {sketch.count}")
    for name, part_sketch in (("groups", groups), ("windows", windows)):
        if len(part_sketch) and part_sketch.count != sketch.count:
            raise ValueError(f"calipers saved-score blob: its {name} hold {part_sketch.count} rows, its sketch {rows}")
        if (part_sketch.bins, part_sketch.classes) != (sketch.bins, sketch.classes):
            raise ValueError(f"calipers saved-score blob: its {name} have other bins or classes than its sketch")
    if len(windows) and window is None:
        raise ValueError("calipers saved-score blob has windows but no window length")
    out = Scored(sketch, rows, skipped, groups, windows, by=columns["by"], time=columns["time"])
    return out, (float(window) if window is not None else None)
