"""The bytes of a CalibrationMonitor: :func:`encode` and, for ``from_bytes``,
:func:`read_header` and :func:`install`.

Layout (inside a calipers blob of type ``TYPE_MONITOR``, versioned and checksummed by
:mod:`calipers._common.serde`): a u32 header length, a JSON header (settings, input kind,
current window, group keys in key order, records, drops by reason overall and per group,
pending counts, and per window ``[index, groups with replicates, overall replicates?]``),
then per window, in index order: the overall state, the group rows (in key order), the
counters (u64, little-endian), the overall replicates and each listed group's (f64).
Pending entries stay in the process that will see their outcome; only counts travel.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Hashable
from typing import Any

import numpy as np

from .._common import jsontext
from .._common import serde as _serde
from .._common.grid import FIELDS, KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL
from ..streaming.sketch import _check_consistent
from .groups import OTHER
from .inputs import group_error
from .pending import REASONS
from .state import MonitorState
from .window import AUX, OVERALL, Window

__all__ = ["encode", "read_header", "install", "TYPE_MONITOR"]

TYPE_MONITOR = _serde.TYPE_MONITOR  # serde type id of a monitor blob


def encode(state: MonitorState, pending: dict[int, int]) -> bytes:
    """The monitor's bytes (the caller holds ``read_lock`` and the state lock, flushed)."""
    s = state.settings
    keys_all = state.groups.keys
    order = state.groups.sorted_slots()
    keys = [keys_all[i] for i in order]
    dropped, dropped_slot = state.tallies.drops()
    records = state.tallies.records
    header: dict[str, Any] = s.serialized() | {
        "kind": state.kind,
        "current": state.ring.current,
        "keys": keys,
        "records": [int(records[i]) for i in order] + [int(records[-1])],
        "dropped": dropped,
        "dropped_groups": [dropped_slot.get(i, np.zeros(len(REASONS), np.int64)).tolist() for i in order],
        "pending": [pending.get(i, 0) for i in order] + [pending.get(-1, 0)],
        "windows": [],
    }
    slots = np.array(order, np.int64)
    blocks: list[bytes] = []
    for index in sorted(state.ring.windows):
        win = state.ring.windows[index]
        cap = win.capacity
        inside = np.flatnonzero(slots < cap)
        groups = np.zeros((len(keys), s.group_words), np.uint64)
        aux = np.zeros((len(keys) + 1, AUX), np.uint64)
        aux[-1] = win.aux[cap]
        groups[inside] = win.group_rows(s.group_words)[slots[inside]]
        aux[inside] = win.aux[slots[inside]]
        reps = [int(i) for i in inside if int(slots[i]) in win.rep_rows]
        overall_reps = win.reps_of(OVERALL)
        header["windows"].append([index, reps, overall_reps is not None])
        blocks += [win.overall.astype("<u8").tobytes(), groups.astype("<u8").tobytes(), aux.astype("<u8").tobytes()]
        if overall_reps is not None:
            blocks.append(np.ascontiguousarray(overall_reps, "<f8").tobytes())
        for i in reps:
            part = win.reps_of(int(slots[i]))
            assert part is not None
            blocks.append(np.ascontiguousarray(part, "<f8").tobytes())
    head = json.dumps(header, separators=(",", ":")).encode()
    return _serde.pack_payload(TYPE_MONITOR, struct.pack("<I", len(head)) + head + b"".join(blocks))


def read_header(payload: bytes) -> tuple[dict[str, Any], int]:
    """The JSON header of a monitor payload and where the blocks start."""
    (hlen,) = struct.unpack_from("<I", payload)
    header = jsontext.loads(payload[4 : 4 + hlen], object_pairs_hook=jsontext.unique_keys)
    if not isinstance(header, dict):
        raise ValueError("the header is not an object")
    return header, 4 + hlen


class _Blocks:
    """Sequential reads of fixed-size arrays from the payload."""

    def __init__(self, payload: bytes, pos: int) -> None:
        self.payload = payload
        self.pos = pos

    def take(self, count: int, dtype: str) -> np.ndarray:
        size = count * 8
        if self.pos + size > len(self.payload):
            raise ValueError("payload truncated")
        arr = np.frombuffer(self.payload, dtype=dtype, count=count, offset=self.pos)
        self.pos += size
        return arr


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def _counts(values: Any, size: int, what: str) -> np.ndarray:
    """A list of ``size`` non-negative integers (floats are not counts) as int64."""
    if not isinstance(values, list) or len(values) != size or not all(_is_count(v) for v in values):
        raise ValueError(f"{what} must be {size} non-negative integers")
    return np.array(values, np.int64)


def _check_window(state: MonitorState, win: Window) -> None:
    """Each state of a window must load as a consistent sketch (counts, sums, grids)."""
    s = state.settings
    states = [(win.overall, s.overall_grid, int(win.aux[-1, 2]))]
    states += [(win.group_state(i, s.group_words), s.grid, int(win.aux[i, 2])) for i in range(win.capacity)]
    for values, grid, count in states:
        rows = values.reshape(s.streams, -1)
        n = int(rows[0, : s.bins * FIELDS : FIELDS].sum())
        if n != count:
            raise ValueError(f"window {win.index}: a state holds {n} records, its counter {count}")
        kind = state.kind if state.kind is not None else KIND_BINARY
        flags = _serde.FLAG_EMPTY if n == 0 else 0
        _check_consistent(values, s.bins, s.streams, kind, flags, grid)


def install(state: MonitorState, h: dict[str, Any], payload: bytes, pos: int, add_slot: Any) -> None:
    """Load a decoded header and its blocks into a fresh monitor's state; ``add_slot(key)``
    creates a group slot. Raises ValueError (or KeyError/TypeError on a malformed header)."""
    s = state.settings
    keys: list[Hashable] = h["keys"]
    if (
        any(k != OTHER and group_error(k) is not None for k in keys)
        or len(set(keys)) != len(keys)
        or len({str(k) for k in keys}) != len(keys)
    ):
        raise ValueError(
            "group keys must be distinct strings or integers with distinct labels, not reserved, valid Unicode"
        )
    kind_ok = h["kind"] is None or type(h["kind"]) is int  # not true, which equals 1
    if not kind_ok or h["kind"] not in ((KIND_MARGINAL,) if s.classes else (None, KIND_BINARY, KIND_TOP_LABEL)):
        raise ValueError(f"kind {h['kind']!r} does not match classes={s.classes}")
    for key in keys:
        add_slot(key)
    state.kind = h["kind"]
    current = h["current"]
    if current is not None and (
        type(current) is not int or not _is_count(abs(current)) or not math.isfinite((abs(current) + 1.0) * s.window)
    ):
        raise ValueError(f"current window {current!r} is not a window index of this monitor")
    state.ring.current = current
    n = len(keys)
    tallies = state.tallies
    records = _counts(h["records"], n + 1, "records")
    if int(records[:-1].sum()) > int(records[-1]):
        raise ValueError("records of the groups add up to more than the total")
    tallies.records = records
    if set(h["dropped"]) != set(tallies.dropped):
        raise ValueError(f"drop counts must be given for exactly the reasons {sorted(tallies.dropped)}")
    for reason, v in h["dropped"].items():
        if not _is_count(v):
            raise ValueError(f"drop count {reason!r} must be a non-negative JSON integer, got {v!r}")
    tallies.dropped = {r: int(h["dropped"][r]) for r in tallies.dropped}
    rows = h["dropped_groups"]
    if not isinstance(rows, list) or len(rows) != n:
        raise ValueError("drop counts do not match the group keys")
    dg = np.array([_counts(row, len(REASONS), "drop counts") for row in rows], np.int64).reshape(n, len(REASONS))
    tallies.dropped_slot = {i: dg[i].copy() for i in range(n) if dg[i].any()}
    pend = _counts(h["pending"], n + 1, "pending counts")
    tallies.remote_pending = {i: int(v) for i, v in enumerate(pend[:-1]) if v}
    if pend[-1]:
        tallies.remote_pending[-1] = int(pend[-1])
    blocks = _Blocks(payload, pos)
    R, units = s.replicates, s.units
    last_index = None
    for entry in h["windows"]:
        if not (isinstance(entry, list) and len(entry) == 3 and _is_count(abs(entry[0])) and type(entry[2]) is bool):
            raise ValueError(f"window entry {entry!r} is not [index, replicate owners, has_overall]")
        index, reps, has_overall = entry[0], list(entry[1]), entry[2]
        if type(index) is not int or current is None or not current - s.history < index <= current:
            raise ValueError(  # a window outside the ring (or `true`) would hold records no read sees
                f"window index {index!r} is not in the ring ({'no current window' if current is None else ''}"
                f"{'' if current is None else f'{current - s.history + 1} to {current}'})"
            )
        if last_index is not None and index <= last_index:
            raise ValueError("windows are not in increasing order")
        last_index = index
        win = Window(index, s.overall_words, s.group_words, n)
        win.overall = blocks.take(s.overall_words, "<u8").astype(np.uint64)
        win.groups = blocks.take(n * s.group_words, "<u8").astype(np.uint64)
        win.aux = blocks.take((n + 1) * AUX, "<u8").astype(np.uint64).reshape(n + 1, AUX)
        if (has_overall or reps) and not R:
            raise ValueError("replicates in a monitor without replicates")
        owners: list[int] = []
        arrays: list[np.ndarray] = []
        if has_overall:
            owners.append(OVERALL)
            arrays.append(blocks.take(R * units * 2, "<f8").astype(np.float64).reshape(R, units, 2))
        for i in reps:
            if not _is_count(i) or not 0 <= i < n:
                raise ValueError("replicate owner out of range")
            owners.append(i)
            arrays.append(blocks.take(R * units * 2, "<f8").astype(np.float64).reshape(R, units, 2))
        if arrays:
            if len(set(owners)) != len(owners):
                raise ValueError("a replicate owner is listed twice")
            win.rep_block = np.stack([np.moveaxis(a, 0, 1) for a in arrays])  # (owners, 2 bins, R, 2)
            win.rep_rows = {owner: row for row, owner in enumerate(owners)}
        _check_window(state, win)
        state.ring.windows[index] = win
    if blocks.pos != len(payload):
        raise ValueError("payload sizes do not add up: padded")
    state.ring.mark_stale()
