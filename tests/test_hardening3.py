"""Hardening round 3: the findings of a second adversarial pass, each written as a user hits
it (public API or CLI), with the exact error, exit code and state after the call."""

from __future__ import annotations

import numpy as np
import pytest

from calipers import CalibrationMonitor
from calipers.monitor import merging


class Clock:
    """A settable clock for deterministic windows."""

    def __init__(self, t: float = 6000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------- 1: monitor merge without groups


def test_monitor_merge_of_records_without_groups():
    clock = Clock()
    a, b, both = (CalibrationMonitor(window=60.0, clock=clock) for _ in range(3))
    rng = np.random.default_rng(1)
    for i in range(200):
        p, y, t = float(rng.random()), int(rng.random() < 0.5), 5500.0 + rng.random() * 500
        (a if i % 2 else b).record(p, y, t=t)
        both.record(p, y, t=t)
    a.merge(b)
    assert a.snapshot()["count"] == 200
    assert a.to_bytes() == both.to_bytes()
    grouped = CalibrationMonitor(window=60.0, clock=clock)
    grouped.record(0.5, 1, group="g", t=5990.0)
    grouped.merge(b)  # a target with groups, a source without
    assert grouped.records_by_group() == {"g": 1} and grouped.records_total == 101


def test_monitor_merge_is_all_or_nothing(monkeypatch):
    clock = Clock()
    a = CalibrationMonitor(window=60.0, clock=clock, max_groups=2)
    b = CalibrationMonitor(window=60.0, clock=clock)
    a.record(0.2, 0, group="x", t=5890.0)
    a.record(0.4, 1, t=5950.0)
    for g in ("y", "z", "w"):  # one new slot ("w", first in key order), two keys pooled
        b.record(0.6, 1, group=g, t=5900.0)
        b.record(0.7, 0, group=g, t=5990.0)
    before = a.to_bytes()
    calls = []
    real = merging._merge_window

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:  # the second window fails after the first merged
            raise MemoryError("no room")
        real(*args)

    monkeypatch.setattr(merging, "_merge_window", failing)
    with pytest.raises(MemoryError):
        a.merge(b)
    assert len(calls) == 2
    assert a.to_bytes() == before
    assert a.groups == ["x"] and a.dropped()["overflow"] == 0 and a.records_total == 2
    monkeypatch.setattr(merging, "_merge_window", real)
    a.merge(b)
    assert a.groups == ["__other__", "w", "x"] and a.dropped()["overflow"] == 2 and a.records_total == 8
