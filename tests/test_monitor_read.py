"""The monitor's read path computes every group at once (numpy over the group axis, the
ring's running total of replicates, cached closed windows): its values must equal what
each group's own ReliabilitySketch gives, to 1e-12, on random data with groups, windows
and replicates, through ring turnover, late records, merges and loads. Also: a read builds
no per-group sketch, and calipers.monitor imports without its optional dependencies."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers import CalibrationMonitor, ReliabilitySketch
from calipers.monitor.fold import WindowReps

TOL = 1e-12  # measured: ECE, Brier, log loss bit-identical; the ECE interval bounds within 1.1e-16


class Clock:
    """A settable clock."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _close(a: float | None, b: float) -> bool:
    if a is None:
        return not math.isfinite(b)
    return math.isfinite(b) and abs(a - b) <= TOL


def _sketch_values(s: ReliabilitySketch, replicates: int, smooth: bool) -> dict[str, float]:
    """What one group's sketch says, computed the per-sketch way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {"count": float(s.count), "ece": s.ece(), "brier": s.brier(), "log_loss": s.log_loss()}
        if replicates:
            iv = s.ece_interval()
            out["ece_low"], out["ece_high"] = iv.low, iv.high
        if smooth:
            out["smooth_ece"] = s.smooth_ece()
    return out


def _check_snapshot(m: CalibrationMonitor, last: int | None, closed: bool, smooth: bool) -> float:
    """Compare one snapshot with every group's sketch; returns the largest difference."""
    snap = m.snapshot(last, closed=closed, smooth=smooth)
    worst = 0.0
    entries = [(None, snap["overall"])] + [(g, snap["groups"][str(g)]) for g in m.groups]
    for key, entry in entries:
        ref = _sketch_values(m.sketch(last, key, closed=closed), m.replicates, smooth)
        assert entry["count"] == ref["count"], (key, last, closed)
        for name, value in ref.items():
            if name == "count" or (name.startswith("ece_") and not entry["count"]):
                continue
            got = entry[name]
            assert _close(got, value), (key, last, closed, name, got, value)
            if got is not None:
                worst = max(worst, abs(got - value))
    return worst


def _fill(m: CalibrationMonitor, rng: np.random.Generator, clock: Clock, n: int, groups: list, spread: float) -> None:
    p = rng.random(n)
    y = (rng.random(n) < p**1.7).astype(int)
    keys = [groups[i] for i in rng.integers(0, len(groups), n)]
    t = clock.t - rng.random(n) * spread
    m.record_many(p, y, groups=keys, t=t)


def test_vectorised_values_equal_per_group_sketches_through_ring_turnover():
    clock = Clock(60_000.0)
    m = CalibrationMonitor(window=60.0, history=6, replicates=60, seed=3, clock=clock)
    rng = np.random.default_rng(11)
    groups = ["a", "b", 3, 7, "c", "rare"]
    worst = 0.0
    for step in range(14):  # 14 windows through a 6-window ring: 8 windows retire
        clock.t += 60.0
        _fill(m, rng, clock, 400, groups[:5], spread=300.0)  # late records land in closed windows too
        if step % 4 == 0:
            m.record(0.9, 1, group="rare")  # a group absent from most windows
        m.flush()
        for last, closed in ((None, False), (None, True), (1, False), (1, True), (2, False), (4, True), (6, False)):
            worst = max(worst, _check_snapshot(m, last, closed, smooth=False))
    assert worst <= TOL  # measured: 1.1e-16
    assert _check_snapshot(m, None, False, smooth=True) <= TOL


def test_running_total_equals_the_sum_of_the_windows():
    """After many windows leave the ring, the running total holds exactly the sum of the
    windows still in it: counts equal, sums within one rounding."""
    clock = Clock(0.0)
    m = CalibrationMonitor(window=1.0, history=3, replicates=20, seed=4, clock=clock)
    rng = np.random.default_rng(5)
    for step in range(200):
        clock.t = step + 0.5
        n = int(rng.integers(1, 300))  # bursts and lulls: sums of very different sizes
        if step % 37 == 0:
            n = 20_000
        _fill(m, rng, clock, n, ["x", "y"], spread=2.0)
        m.snapshot(smooth=False)  # reads in between: draws and retirements interleave
    state = m._state
    totals = state.ring.totals
    owners = np.array([0, 1, -1])
    windows = [state.ring.windows[i] for i in sorted(state.ring.windows)]
    exact = WindowReps(windows, 20, 2 * m.bins).gather(owners)
    running = totals.gather(owners)
    np.testing.assert_array_equal(running[..., 0], exact[..., 0])  # draw counts: whole numbers, exact
    scale = np.maximum(np.abs(exact[..., 1]), 1.0)
    # measured 2.2e-16 (plain float running sums: 1.5e-13, and growing with every window)
    assert np.max(np.abs(running[..., 1] - exact[..., 1]) / scale) < 1e-14


def test_closed_window_metrics_follow_late_records():
    clock = Clock(6000.0)
    m = CalibrationMonitor(window=60.0, replicates=30, seed=1, clock=clock)
    rng = np.random.default_rng(2)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    m.record_many(p, y, groups=["g"] * 500, t=5950.0)  # window 99, closed
    first = m.snapshot(1, closed=True, smooth=False)["groups"]["g"]
    assert m.snapshot(1, closed=True, smooth=False)["groups"]["g"] == first  # served from the cache
    m.record_many(p[:100], 1 - y[:100], groups=["g"] * 100, t=5951.0)  # late outcomes into the closed window
    second = m.snapshot(1, closed=True, smooth=False)["groups"]["g"]
    assert second["count"] == 600 and second["ece"] != first["ece"]
    assert second["ece"] == pytest.approx(calipers.ece(np.r_[p, p[:100]], np.r_[y, 1 - y[:100]]), abs=TOL)
    assert _check_snapshot(m, 1, True, smooth=False) <= TOL


def test_merged_and_loaded_monitors_read_like_their_sketches():
    clock = Clock(6000.0)
    kw = dict(window=60.0, history=5, replicates=25, clock=clock)
    a, b = CalibrationMonitor(**kw, seed=1), CalibrationMonitor(**kw, seed=2)
    rng = np.random.default_rng(3)
    for m in (a, b):
        for _ in range(4):
            clock.t += 60.0
            _fill(m, rng, clock, 300, ["u", "v", 9], spread=120.0)
    merged = CalibrationMonitor(**kw).merge(a).merge(b)
    for m in (merged, CalibrationMonitor.from_bytes(merged.to_bytes(), clock=clock)):
        for last, closed in ((None, False), (None, True), (1, True), (3, False)):
            assert _check_snapshot(m, last, closed, smooth=False) <= TOL


def test_marginal_monitor_vectorised_values():
    clock = Clock(6000.0)
    m = CalibrationMonitor(classes=3, window=60.0, history=4, clock=clock)
    rng = np.random.default_rng(7)
    for _ in range(5):
        clock.t += 60.0
        P = rng.dirichlet(np.ones(3), 200)
        L = rng.integers(0, 3, 200)
        m.record_many(P, L, groups=rng.choice(["a", "b"], 200).tolist())
    for last, closed in ((None, False), (1, True), (2, False)):
        assert _check_snapshot(m, last, closed, smooth=True) <= TOL


def test_alert_values_equal_the_sketch_checks():
    clock = Clock(6000.0)
    m = CalibrationMonitor(
        window=60.0, clock=clock, replicates=50, seed=0, alert_min_count=10,
        thresholds={"ece": 0.02, "brier": 0.2, "smooth_ece": 0.02, "log_loss": 0.6},
    )  # fmt: skip
    rng = np.random.default_rng(8)
    p = rng.random(900)
    y = (rng.random(900) < p**2).astype(int)
    m.record_many(p, y, groups=np.array(["a", "b", "c"])[np.arange(900) % 3], t=6010.0)
    clock.t = 6070.0
    states = m.alert_states()
    assert len(states) == 4 * 4
    for (key, metric), alert in states.items():
        s = m.sketch(1, key, closed=True)
        if metric == "ece":
            iv = s.ece_interval()
            assert (alert.value, alert.low, alert.high) == pytest.approx((iv.estimate, iv.low, iv.high), abs=TOL)
        else:
            value = getattr(s, metric)()
            assert alert.value == pytest.approx(value, abs=TOL) and alert.low == alert.high == alert.value
        assert alert.count == s.count and alert.firing == (alert.low > alert.threshold)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 60),  # records in the batch
            st.integers(0, 3),  # windows the clock moves on first
            st.floats(0.0, 200.0),  # how far back the batch's times reach
            st.sampled_from([(None, False), (None, True), (1, False), (1, True), (2, True), (3, False)]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 2**32 - 1),
)
def test_reads_equal_sketches_on_random_histories(steps, seed):
    clock = Clock(60_000.0)
    m = CalibrationMonitor(window=60.0, history=4, replicates=8, seed=seed, clock=clock, batch=16)
    rng = np.random.default_rng(seed)
    for n, move, reach, (last, closed) in steps:
        clock.t += 60.0 * move
        _fill(m, rng, clock, n, ["a", "b", 5], spread=reach)
        for i in range(n % 5):
            m.record(float(rng.random()), int(rng.integers(0, 2)), group="a", t=clock.t - i)  # buffered path
        assert _check_snapshot(m, last, closed, smooth=False) <= TOL


def test_reads_while_threads_record_and_the_ring_turns():
    """Readers compute outside the recording lock: with four threads recording, a reader
    scraping and turning the ring's clock, nothing is lost or counted twice, and the
    final reads equal the sketches."""
    import threading

    clock = Clock(60_000.0)
    m = CalibrationMonitor(window=60.0, history=3, replicates=10, seed=6, clock=clock, batch=50)
    calls = [0] * 4
    stop = threading.Event()

    def writer(k: int) -> None:
        rng = np.random.default_rng(k)
        while not stop.is_set():
            for _ in range(100):
                m.record(float(rng.random()), int(rng.integers(0, 2)), group=["a", "b", 3][int(rng.integers(0, 3))])
            calls[k] += 100

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for step in range(40):
        m.snapshot(smooth=False)
        m.snapshot(1, closed=True, smooth=False)
        if step % 5 == 4:
            clock.t += 60.0  # windows close and leave the ring while threads record
    stop.set()
    for t in threads:
        t.join()
    dropped = m.dropped()
    assert m.records_total + dropped["late"] + dropped["future"] == sum(calls) > 0
    assert m.sketch().count <= m.records_total  # windows that left the ring took their records
    for last, closed in ((None, False), (None, True), (1, True), (2, False)):
        assert _check_snapshot(m, last, closed, smooth=False) <= TOL


def test_a_read_builds_no_sketch_per_group(monkeypatch):
    """The read path works on stacked state: no ReliabilitySketch per group (the old path
    built one per group and window label)."""
    m = CalibrationMonitor(replicates=20, seed=0, thresholds={"ece": 0.1})
    rng = np.random.default_rng(9)
    p = rng.random(4000)
    m.record_many(p, (rng.random(4000) < p).astype(int), groups=[f"g{i % 300}" for i in range(4000)])
    built = []
    original = ReliabilitySketch.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ReliabilitySketch, "__init__", counting)
    snap = m.snapshot(smooth=False)
    assert len(snap["groups"]) == 300 and built == []


def test_monitor_imports_without_optional_dependencies():
    """calipers.monitor needs neither fastapi, prometheus_client nor opentelemetry: with
    them blocked, it imports, records and serves JSON; the exporters name their extra."""
    code = textwrap.dedent(
        """
        import importlib.abc, sys
        BLOCKED = ("fastapi", "starlette", "prometheus_client", "opentelemetry", "uvicorn", "httpx")
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked {name}")
                return None
        sys.meta_path.insert(0, Block())
        import calipers, calipers.monitor
        from calipers.monitor import CalibrationMonitor, PrometheusCollector, calibration_app, register_gauges
        m = CalibrationMonitor(replicates=5)
        m.record(0.3, 1, group="a")
        assert m.snapshot()["count"] == 1 and calibration_app(m) is not None
        for make in (lambda: PrometheusCollector(m), lambda: register_gauges(m)):
            try:
                make()
            except ImportError as exc:
                assert "calipers[" in str(exc), exc
            else:
                raise AssertionError("an exporter worked without its dependency")
        assert not any(k.split(".")[0] in BLOCKED for k in sys.modules)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
