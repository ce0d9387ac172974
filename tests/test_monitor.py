"""CalibrationMonitor: exact under threads, delayed outcomes joined exactly with every drop
counted, window boundaries, merge == one monitor fed both streams, Prometheus text, alerts,
the label-free estimate, memory, fork, hostile input."""

from __future__ import annotations

import json
import os
import sys
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers import CalibrationMonitor, ReliabilitySketch
from calipers.monitor import PrometheusCollector, load_sketch_bytes
from calipers.monitor.pending import ENTRY_BYTES


class Clock:
    """A settable clock for deterministic windows."""

    def __init__(self, t: float = 6000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _pairs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return p, (rng.random(n) < p**1.5).astype(np.int64)


def test_eight_threads_record_exactly():
    m = CalibrationMonitor(window=3600.0, batch=1000)
    n, threads = 100_000, 8
    data = [_pairs(s, n) for s in range(threads)]
    groups = ["even", "odd"]

    def work(k: int) -> None:
        p, y = data[k]
        pl, yl = p.tolist(), y.tolist()
        g = groups[k % 2]
        for i in range(n):
            m.record(pl[i], yl[i], group=g)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    p = np.concatenate([d[0] for d in data])
    y = np.concatenate([d[1] for d in data])
    s = m.sketch()
    assert s.count == m.records_total == n * threads  # nothing lost, nothing twice
    assert s.ece() == calipers.ece(p, y) and s.brier() == calipers.brier(p, y)
    assert s.log_loss() == calipers.log_loss(p, y)
    assert s == ReliabilitySketch().update(p, y)  # the same exact state, byte for byte
    for g, ks in (("even", [0, 2, 4, 6]), ("odd", [1, 3, 5, 7])):
        gp = np.concatenate([data[k][0] for k in ks])
        gy = np.concatenate([data[k][1] for k in ks])
        assert m.sketch(group=g) == ReliabilitySketch(grid=None).update(gp, gy)
    # the threads have ended: their drained buffers are forgotten
    m.flush()
    assert len(m._registry) <= 1


def test_buffers_of_finished_threads_do_not_pile_up():
    m = CalibrationMonitor(batch=10_000)
    for i in range(300):  # a thread per request, as http.server does
        t = threading.Thread(target=m.record, args=(0.5, i % 2))
        t.start()
        t.join()
    assert m.records_total == 300
    assert len(m._registry) <= 1


def _reference_join(ops, ttl: float, max_pending: int):
    """A plain model of the pending table: the pairs joined and the drops by reason."""
    table: dict = {}
    joined, drops = [], dict.fromkeys(("expired", "unknown", "duplicate", "evicted"), 0)

    def sweep(now: float) -> None:
        while table:
            k = next(iter(table))
            if now - table[k][1] < ttl:
                return
            del table[k]
            drops["expired"] += 1

    for op in ops:
        if op[0] == "p":
            _, key, score, t = op
            sweep(t)
            if key in table:
                drops["duplicate"] += 1
                continue
            while len(table) >= max_pending:
                table.pop(next(iter(table)))
                drops["evicted"] += 1
            table[key] = (score, t)
        else:
            _, key, label, t = op
            entry = table.pop(key, None)
            if entry is None:
                sweep(t)
                drops["unknown"] += 1
            elif t - entry[1] >= ttl:
                drops["expired"] += 1
                sweep(t)
            else:
                sweep(t)
                joined.append((entry[0], label))
    return joined, drops, len(table)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("po"),
            st.integers(0, 6),
            st.floats(0.0, 1.0),
            st.integers(0, 1),
            st.floats(0.0, 30.0),
        ),
        max_size=60,
    ),
    st.integers(1, 5),
)
def test_random_interleavings_join_exactly_and_count_every_drop(raw, max_pending):
    ttl = 10.0
    clock = Clock(0.0)
    m = CalibrationMonitor(window=1000.0, max_pending=max_pending, ttl=ttl, clock=clock, batch=7)
    ops, t = [], 0.0
    for kind, key, score, label, dt in raw:
        t += dt
        ops.append(("p", f"k{key}", score, t) if kind == "p" else ("o", f"k{key}", label, t))
    for op in ops:
        clock.t = op[3]
        if op[0] == "p":
            m.predicted(op[1], op[2], t=op[3])
        else:
            m.observed(op[1], op[2], t=op[3])
    joined, drops, pending = _reference_join(ops, ttl, max_pending)
    got = m.dropped()
    assert {k: got[k] for k in drops} == drops
    assert m.pending == pending and m.records_total == len(joined)
    s = m.sketch()
    if joined:
        p = np.array([j[0] for j in joined])
        y = np.array([j[1] for j in joined])
        assert s == ReliabilitySketch().update(p, y)
    else:
        assert s.count == 0
    accepted = sum(1 for op in ops if op[0] == "p") - drops["duplicate"]
    assert m.snapshot()["overall"]["predictions"] == accepted


def test_prediction_counts_and_pending_per_group():
    clock = Clock(100.0)
    m = CalibrationMonitor(window=60.0, clock=clock, max_pending=3, ttl=50.0)
    assert m.predicted("a", 0.9, group="x") and m.predicted("b", 0.2, group="y")
    assert not m.predicted("a", 0.5, group="x")  # duplicate: the first is kept
    assert m.pending_by_group() == {"x": 1, "y": 1}
    assert m.predicted("c", 0.4) and m.predicted("d", 0.6, group="x")  # evicts "a"
    assert m.dropped()["evicted"] == 1 and m.pending == 3
    assert m.observed("b", 0) and not m.observed("a", 1)  # "a" was evicted: unknown
    clock.t = 200.0
    assert not m.observed("c", 1)  # 100 s after its prediction: expired
    snap = m.snapshot()
    assert snap["overall"]["predictions"] == 4 and snap["count"] == 1
    assert snap["dropped"]["expired"] == 2 and snap["dropped"]["unknown"] == 1  # "c", then "d" swept
    assert snap["groups"]["x"]["dropped"]["evicted"] == 1 and snap["groups"]["x"]["dropped"]["expired"] == 1


def test_window_boundaries_ring_late_and_future():
    clock = Clock(600.0)
    m = CalibrationMonitor(window=60.0, history=3, clock=clock)
    m.record(0.1, 0, t=599.999)  # window 9
    m.record(0.2, 1, t=600.0)  # window 10: a boundary belongs to the window it starts
    m.record(0.3, 0, t=659.999999)  # window 10
    assert m.window_index(600.0) == 10 and m.window_index(599.999) == 9 and m.window_index(660.0) == 11
    assert m.sketch(last=1).count == 2 and m.sketch(last=2).count == 3
    clock.t = 780.0  # window 13: windows <= 10 have left a 3-window ring
    m.record(0.4, 1, t=700.0)  # window 11: kept
    m.record(0.5, 1, t=640.0)  # window 10: late
    m.record(0.6, 1, t=900.0)  # two windows ahead of the clock: future
    m.record(0.7, 1, t=830.0)  # within one window ahead: accepted (clock skew)
    assert m.sketch().count == 2
    assert m.dropped()["late"] == 1 and m.dropped()["future"] == 1
    snap = m.snapshot()
    assert snap["windows"] == 2 and snap["from"] == 660.0 and snap["to"] == 840.0  # windows 11 and 13
    assert m.sketch(last=1, closed=True).count == 0  # window 12, the last closed one, had nothing


def test_merge_equals_one_monitor_fed_both_streams():
    clock = Clock(6000.0)
    kw = dict(window=60.0, history=10, clock=clock, max_pending=50, ttl=100.0)
    a, b, both = CalibrationMonitor(**kw), CalibrationMonitor(**kw), CalibrationMonitor(**kw)
    rng = np.random.default_rng(0)
    for _ in range(3000):
        target = a if rng.random() < 0.5 else b
        p, y, t = float(rng.random()), int(rng.random() < 0.4), 5500.0 + rng.random() * 500
        g = ["u", "v", 7, None][int(rng.integers(0, 4))]
        for m in (target, both):
            m.record(p, y, group=g, t=t)
    for m in (a, both):
        m.predicted("k1", 0.3, group="u", t=5990.0)
        m.observed("nope", 1, t=5991.0)
    for m in (b, both):
        m.predicted("k2", 0.8, group=7, t=5995.0)
    merged = CalibrationMonitor(**kw).merge(a).merge(b.to_bytes())
    merged_other_way = CalibrationMonitor(**kw).merge(b).merge(a)
    assert merged.to_bytes() == both.to_bytes() == merged_other_way.to_bytes()
    assert merged.pending == 2 and merged.dropped()["unknown"] == 1
    with pytest.raises(ValueError, match="settings"):
        merged.merge(CalibrationMonitor(bins=10, clock=clock))
    with pytest.raises(TypeError):
        merged.merge(ReliabilitySketch())  # type: ignore[arg-type]


def test_merge_with_replicates_adds_them():
    clock = Clock(6000.0)
    kw = dict(window=60.0, clock=clock, replicates=30)
    a, b = CalibrationMonitor(**kw, seed=1), CalibrationMonitor(**kw, seed=2)
    p, y = _pairs(3, 2000)
    a.record_many(p[:1000], y[:1000], groups=["g"] * 1000)
    b.record_many(p[1000:], y[1000:], groups=["g"] * 1000)
    ra, rb = a.sketch()._replicates.copy(), b.sketch()._replicates.copy()
    m = CalibrationMonitor(**kw).merge(a).merge(b)
    np.testing.assert_array_equal(m.sketch()._replicates, ra + rb)
    assert m.sketch().count == 2000 and m.sketch(group="g").ece() == calipers.ece(p, y)
    iv = m.sketch().ece_interval()
    assert iv.low < calipers.ece(p, y) < iv.high


def test_prometheus_text_parses_and_matches_the_snapshot():
    parser = pytest.importorskip("prometheus_client.parser")
    from prometheus_client import CollectorRegistry, generate_latest

    clock = Clock(6000.0)
    m = CalibrationMonitor(window=60.0, clock=clock, replicates=50, thresholds={"ece": 0.01}, alert_min_count=10)
    p, y = _pairs(4, 600)
    m.record_many(p, y, groups=np.where(np.arange(600) % 3 == 0, "a", "b"), t=5950.0)
    m.record_many(p[:100], y[:100], t=6010.0)
    m.predicted("x", 0.5, group="a")
    m.observed("unknown-key", 1)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrometheusCollector(m))
    text = generate_latest(registry).decode()
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert {"calipers_ece", "calipers_ece_upper", "calipers_ece_lower", "calipers_brier", "calipers_records"} <= set(
        fams
    )
    assert {"calipers_pending", "calipers_dropped", "calipers_alert"} <= set(fams)
    ece = {(s.labels["group"], s.labels["window"]): s.value for s in fams["calipers_ece"].samples}
    assert ece[("__all__", "history")] == pytest.approx(calipers.ece(np.r_[p, p[:100]], np.r_[y, y[:100]]), abs=1e-12)
    assert ece[("__all__", "last")] == pytest.approx(calipers.ece(p, y), abs=1e-12)
    assert ece[("__all__", "current")] == pytest.approx(calipers.ece(p[:100], y[:100]), abs=1e-12)
    records = {s.labels["group"]: s.value for s in fams["calipers_records"].samples if s.name.endswith("_total")}
    assert records == {"__all__": 700.0, "a": 200.0, "b": 400.0}
    dropped = {s.labels["reason"]: s.value for s in fams["calipers_dropped"].samples if s.name.endswith("_total")}
    assert dropped["unknown"] == 1.0 and dropped["late"] == 0.0
    pending = {s.labels["group"]: s.value for s in fams["calipers_pending"].samples}
    assert pending == {"__all__": 1.0, "a": 1.0}
    alerts = {(s.labels["group"], s.labels["metric"]): s.value for s in fams["calipers_alert"].samples}
    assert alerts[("__all__", "ece")] == 1.0  # ECE ~0.1 lies far above 0.01
    upper = {(s.labels["group"], s.labels["window"]): s.value for s in fams["calipers_ece_upper"].samples}
    assert upper[("__all__", "history")] > ece[("__all__", "history")]


def test_alerts_fire_once_per_closed_window_with_state_and_callback():
    clock = Clock(6000.0)
    fired = []
    m = CalibrationMonitor(
        window=60.0, clock=clock, replicates=100, thresholds={"ece": 0.05, "brier": 0.9}, on_alert=fired.append, seed=0
    )
    rng = np.random.default_rng(5)
    p = rng.random(3000)
    bad = (rng.random(3000) < p**3).astype(int)  # ECE ~0.2
    good = (rng.random(3000) < p).astype(int)  # calibrated
    m.record_many(p, bad, groups=["bad"] * 3000, t=6000.0)
    m.record_many(p, good, groups=["good"] * 3000, t=6000.0)
    assert m.alerts() == []  # the window is still open
    clock.t = 6061.0
    alerts = m.alerts()
    assert {(a.group, a.metric) for a in alerts} == {("bad", "ece"), (None, "ece")}
    assert all(a.low > a.threshold and a.window_start == 6000.0 for a in alerts)
    assert len(fired) == 2
    m.alerts()
    assert len(fired) == 2  # a window is checked once
    states = m.alert_states()
    assert not states[("good", "ece")].firing and not states[("bad", "brier")].firing


def test_label_free_expected_accuracy():
    clock = Clock(6000.0)
    rng = np.random.default_rng(6)
    p_ref = rng.random(5000)
    y_ref = (rng.random(5000) < p_ref**2).astype(int)
    cal = calipers.PlattScaling().fit(p_ref, y_ref)
    m = CalibrationMonitor(window=60.0, clock=clock, calibrator=cal)
    p = rng.random(4000)
    y = (rng.random(4000) < p**2).astype(int)
    for i in range(4000):
        m.predicted(i, float(p[i]))
    snap = m.snapshot()["overall"]
    c = cal.transform(p)
    expected = np.mean(np.where(p >= 0.5, c, 1 - c))
    assert snap["accuracy"] is None and snap["predictions"] == 4000
    assert snap["expected_accuracy"] == pytest.approx(expected, abs=4000 * 2**-32)  # fixed point 2^-32
    for i in range(4000):
        m.observed(i, int(y[i]))
    snap = m.snapshot()["overall"]
    assert snap["accuracy"] == np.mean((p >= 0.5) == (y == 1))
    assert abs(snap["accuracy"] - snap["expected_accuracy"]) < 0.03  # same distribution: measured 0.004
    out = CalibrationMonitor(window=60.0, clock=clock, calibrator=cal, accuracy_of="outcome")
    out.record_many(p, y)
    assert out.snapshot()["overall"]["expected_accuracy"] == pytest.approx(np.mean(c), abs=1e-9)


def test_memory_of_1000_groups_60_windows_15_bins_under_100mb():
    clock = Clock(0.0)
    m = CalibrationMonitor(window=1.0, history=60, max_groups=1000, clock=clock)
    keys = np.array([f"group-{i:04d}" for i in range(1000)])
    p, y = _pairs(7, 3000)
    tracemalloc.start()
    for w in range(60):
        clock.t = w + 0.5
        m.record_many(p, y, groups=keys[np.arange(3000) % 1000], t=w + 0.5)
    m.flush()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(m._windows) == 60 and len(m.groups) == 1000
    assert m.nbytes < 100e6 and current < 100e6  # measured: nbytes 38.6 MB, traced 39 MB
    per_group_window = (m.nbytes - 60 * m._windows[0].overall.nbytes) / 60 / 1000
    assert per_group_window == pytest.approx(512 + 32, abs=0.05)  # the group row and its counters (+ 1 overall row)


def test_pending_entry_memory_is_as_stated():
    m = CalibrationMonitor(max_pending=200_000)
    keys = [f"req-{i:012d}" for i in range(50_000)]  # 16-character ids
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i, k in enumerate(keys):
        m.predicted(k, 0.5, t=1000.0 + i * 1e-3)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per = (after - before) / len(keys) + sys.getsizeof(keys[0])  # the keys were allocated before
    assert per <= ENTRY_BYTES * 1.1, per  # measured 136 + 65 = 201 bytes


def test_bad_input_raises_and_records_nothing():
    m = CalibrationMonitor()
    for score, label, err in [
        (float("nan"), 1, ValueError),
        (1.5, 1, ValueError),
        (-0.1, 0, ValueError),
        (0.5, 2, ValueError),
        (0.5, 0.5, ValueError),
        ("0.5", 1, TypeError),
        (0.5, "1", TypeError),
        (None, 1, TypeError),
    ]:
        with pytest.raises(err):
            m.record(score, label)
    with pytest.raises(TypeError):
        m.record(0.5, 1, group=[1])
    with pytest.raises(TypeError):
        m.record(0.5, 1, group=True)
    with pytest.raises(ValueError):
        m.record(0.5, 1, t=float("inf"))
    with pytest.raises(ValueError):
        m.record_many([0.1, 0.2, float("nan")], [0, 1, 1], groups=["a", "b", "c"])
    with pytest.raises(ValueError):
        m.record_many([0.1, 0.2], [0, 1], groups=["a"])
    with pytest.raises(TypeError):
        m.record_many([0.1, 0.2], [0, 1], groups=["a", 2.5])
    assert m.records_total == 0 and m.groups == [] and m.sketch().count == 0
    m.record(np.float32(0.25), np.int64(1))
    m.record(1, True)
    assert m.records_total == 2
    with pytest.raises(ValueError, match="do not mix"):
        m.record_many(np.array([[0.2, 0.8]]), [1])
    for bad in (dict(window=0), dict(history=0), dict(replicates=-1), dict(thresholds={"auc": 1.0}), dict(ttl=0)):
        with pytest.raises(ValueError):
            CalibrationMonitor(**bad)  # type: ignore[arg-type]


def test_bytes_round_trip_and_corruption():
    clock = Clock(6000.0)
    m = CalibrationMonitor(window=60.0, clock=clock, replicates=10, grid="compact")
    p, y = _pairs(8, 500)
    m.record_many(p, y, groups=[i % 4 for i in range(500)], t=5990.0)
    blob = m.to_bytes()
    back = CalibrationMonitor.from_bytes(blob)
    assert back.to_bytes() == blob and back.sketch(group=2) == m.sketch(group=2)
    assert load_sketch_bytes(blob) == m.sketch()
    assert load_sketch_bytes(m.sketch().to_bytes()) == m.sketch()
    for bad in (
        blob[:-1],
        blob[:50],
        b"CLPR" + blob[4:40] + bytes(20),
        blob[:100] + bytes([blob[100] ^ 1]) + blob[101:],
    ):
        with pytest.raises(ValueError):
            CalibrationMonitor.from_bytes(bad)
    with pytest.raises(TypeError):
        CalibrationMonitor.from_bytes("not bytes")  # type: ignore[arg-type]
    import pickle

    assert pickle.loads(pickle.dumps(m)).to_bytes() == blob


def test_cli_merge_accepts_monitor_bytes(tmp_path, capsys):
    from calipers.cli import main

    clock = Clock(6000.0)
    m = CalibrationMonitor(window=60.0, clock=clock)
    p, y = _pairs(9, 700)
    m.record_many(p[:400], y[:400], t=5999.0)
    (tmp_path / "mon.bin").write_bytes(m.to_bytes())
    (tmp_path / "sk.bin").write_bytes(ReliabilitySketch().update(p[400:], y[400:]).to_bytes())
    assert main(["merge", str(tmp_path / "mon.bin"), str(tmp_path / "sk.bin"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 700 and out["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), abs=1e-12)


def test_marginal_and_top_label_monitors():
    clock = Clock(6000.0)
    rng = np.random.default_rng(10)
    P = rng.dirichlet(np.ones(3), 300)
    L = rng.integers(0, 3, 300)
    mm = CalibrationMonitor(classes=3, window=60.0, clock=clock)
    mm.record_many(P[:200], L[:200], groups=["a"] * 200)
    for i in range(200, 300):
        mm.record(P[i], int(L[i]), group="a")
    assert mm.sketch() == ReliabilitySketch(classes=3).update(P, L)
    assert mm.sketch(group="a") == ReliabilitySketch(classes=3, grid=None).update(P, L)
    top = CalibrationMonitor(window=60.0, clock=clock)
    top.record_many(P[:150], L[:150])
    for i in range(150, 300):
        top.predicted(i, P[i].tolist())
        top.observed(i, int(L[i]))
    assert top.sketch() == ReliabilitySketch().update(P, L)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_starts_empty():
    m = CalibrationMonitor(replicates=5)
    m.record(0.5, 1, group="parent")
    m.predicted("k", 0.4)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it sees, then record its own
        try:
            m.record(0.25, 0, group="child")
            os.write(write, json.dumps([m.records_total, m.pending, m.groups]).encode())
        finally:
            os._exit(0)
    os.close(write)
    seen = json.loads(os.read(read, 1000).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert seen == [1, 0, ["child"]]
    assert m.records_total == 1 and m.pending == 1  # the parent is untouched
