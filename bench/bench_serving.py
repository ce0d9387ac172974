"""Serving benchmark: the cost of calipers.CalibrationMonitor inside an inference server.

    python bench/bench_serving.py --quick   # 4 x 10^5 records per run, a 100 groups x 10 windows scrape, 400 requests
    python bench/bench_serving.py --full    # 1000 groups x 60 windows x 200 replicates
                                            # (about 6 GB), 1500 requests from 8 clients

Prints, in one bounded run:

1. ``record`` cost from Python, single-threaded and with 8 threads: amortised per record
   (total time / records, flushes included) and the median and p99 of blocks of 100 calls;
   with replicates=0 and 200 (the streaming bootstrap);
2. one-record ``ReliabilitySketch.update`` with replicates=0 and 200;
3. memory: bytes per group-window of a groups x windows x 15 bins monitor on each grid
   (measured, checked against the state layout, and the 1000 groups x 60 windows total
   computed from them), what replicates=200 add (measured on a monitor whose groups all
   record in every window, checked against R x 2 bins x 16 and x 24 bytes), and the
   bytes of a pending prediction (tracemalloc);
4. the read path: one Prometheus scrape (``generate_latest`` of a registry holding a
   ``PrometheusCollector``) of a monitor with every group recording in every window,
   idle, after new records in every group, and right after a window closes (the ring
   turns, the closed window's metrics and alerts are computed); how much of a scrape is
   prometheus_client's formatting; the copy a read makes under the lock recording threads
   take; ``snapshot()`` with and without the smooth ECE; and the ``record`` cost of a
   thread recording meanwhile.

docs/serving.md and README.md quote its numbers (``monitor_*`` quotes).
5. examples/serve_fastapi.py under uvicorn on 127.0.0.1, driven by a bounded load generator
   (client threads, each predict + feedback), with the monitor on and off, interleaved:
   requests/s, p50/p99 latency, and the throughput overhead ratio.

Every server it starts listens on 127.0.0.1 only and is stopped before it exits.
"""

from __future__ import annotations

import os
import pathlib
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from timing import ROUNDS, WARMUP, Report, Timing, fmt_seconds, measure, parse_args, quoted_table

import calipers
from calipers import CalibrationMonitor

ROOT = pathlib.Path(__file__).parents[1]
PEERS = ("prometheus-client", "fastapi", "uvicorn", "httpx")
#: untimed predict + feedback pairs per client before the timed ones
WARMUP_PAIRS = 10


def _run_together(
    target: Callable[[int], None], n: int, barrier: threading.Barrier, after: Callable[[], object] | None = None
) -> float:
    """Run ``target(k)`` on n threads released together (``barrier`` has n + 1 parties), join
    them, call ``after``; returns the seconds from the release to the end."""
    ts = [threading.Thread(target=target, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    if after is not None:
        after()
    return time.perf_counter() - t0


def record_cost(records: int, threads: int, replicates: int = 0, groups: int = 100) -> dict[str, float]:
    """Amortised ns per record and the median/p99 of 100-call blocks (ns per call)."""
    m = CalibrationMonitor(replicates=replicates)
    per = records // threads
    rng = np.random.default_rng(0)
    p = rng.random(per).tolist()
    y = (rng.random(per) < 0.5).astype(int).tolist()
    keys = [f"model-{i}" for i in rng.integers(0, groups, per)]
    blocks: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        rec, clock = m.record, time.perf_counter_ns
        out = blocks[k]
        barrier.wait()
        for start in range(0, per, 100):
            t0 = clock()
            for i in range(start, min(per, start + 100)):
                rec(p[i], y[i], group=keys[i])
            out.append((clock() - t0) / 100)

    wall = _run_together(work, threads, barrier, after=m.flush)
    assert m.records_total == per * threads, "lost records"
    all_blocks = np.concatenate([np.array(b) for b in blocks])
    return {
        "amortised_ns": wall / (per * threads) * 1e9,
        "median_ns": float(np.median(all_blocks)),
        "p99_ns": float(np.quantile(all_blocks, 0.99)),
        "lost": per * threads - m.records_total,
    }


def sketch_update_cost(replicates: int, n: int = 2000) -> None:
    """``n`` one-record ReliabilitySketch.update calls (timed by the caller)."""
    s = calipers.ReliabilitySketch(replicates=replicates, seed=0)
    p = np.random.default_rng(1).random(n).tolist()
    for i in range(n):
        s.update([p[i]], [i & 1])


def fmt_bytes(b: float) -> str:
    """Bytes in kB, MB or GB (decimal), three significant digits."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} bytes"


def filled_monitor(groups: int, windows: int, **kwargs: object) -> CalibrationMonitor:
    """A 15-bin monitor whose ``groups`` groups each record in each of ``windows`` windows."""
    clock = [0.0]
    m = CalibrationMonitor(window=1.0, history=windows, max_groups=groups, clock=lambda: clock[0], **kwargs)  # type: ignore[arg-type]
    keys = np.array([f"g{i}" for i in range(groups)])
    rng = np.random.default_rng(2)
    p = rng.random(2 * groups)
    y = (rng.random(2 * groups) < p).astype(int)
    for w in range(windows):
        clock[0] = w + 0.5
        m.record_many(p, y, groups=keys[np.arange(2 * groups) % groups], t=w + 0.5)
    m.flush()
    return m


def state_layout(grid: str | None, groups: int, windows: int) -> dict[str, int]:
    """Bytes of one group row, one group's counters and the overall state per window, read
    from a filled ``groups`` x ``windows`` monitor on ``grid``; the monitor's ``nbytes`` must
    be exactly ``windows`` x (overall + groups x (row + counters) + the overall counters)."""
    from calipers._common.grid import grid_cell_count, grid_spec

    m = filled_monitor(groups, windows, grid=grid)
    win = next(iter(m._windows.values()))
    cap = win.capacity
    out = {
        "cells": grid_cell_count(*grid_spec(grid)),
        "row": win.groups.nbytes // cap,
        "counters": win.aux.nbytes // (cap + 1),
        "overall": int(win.overall.nbytes),
    }
    expected = windows * (out["overall"] + groups * (out["row"] + out["counters"]) + out["counters"])
    if cap != groups or m.nbytes != expected:
        raise AssertionError(f"grid {grid!r}: nbytes {m.nbytes} != the layout's {expected} (capacity {cap})")
    return out


def replicate_memory(groups: int, windows: int, replicates: int, bins: int = 15) -> dict[str, float]:
    """What ``replicates`` add to a filled ``groups`` x ``windows`` monitor: bytes per
    group-window with records, per group of the ring's running total, and in all; checked
    against R x 2 bins x 16 bytes (draw count and score sum) and R x 2 bins x 24 bytes
    (count, sum and its compensation)."""
    base = filled_monitor(groups, windows).nbytes
    m = filled_monitor(groups, windows, replicates=replicates, seed=0)
    m.snapshot(smooth=False)  # a read draws the staged replicates
    blocks = [win.rep_block for win in m._windows.values()]
    if any(b is None or b.shape[0] != groups + 1 for b in blocks):
        raise AssertionError("every group and the overall state should hold replicates in every window")
    per_owner_window = blocks[0].nbytes / blocks[0].shape[0]  # type: ignore[union-attr]
    totals = m._state.ring.totals
    assert totals is not None
    per_owner_total = totals.nbytes / len(totals.rows)
    if (per_owner_window, per_owner_total) != (replicates * 2 * bins * 16, replicates * 2 * bins * 24):
        raise AssertionError(f"replicate bytes {per_owner_window}, {per_owner_total} differ from the stated layout")
    return {
        "per_group_window": per_owner_window,
        "per_group_total": per_owner_total,
        "total_mb": m.nbytes / 1e6,
        "totals_mb": totals.nbytes / 1e6,
        "without_mb": base / 1e6,
    }


def pending_bytes(n: int) -> dict[str, float]:
    """Bytes per pending prediction with a 16-character id, by tracemalloc over ``n``
    ``predicted`` calls (the table's entries), plus the id itself (``sys.getsizeof``)."""
    m = CalibrationMonitor(max_pending=2 * n)
    keys = [f"req-{i:012d}" for i in range(n)]
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i, k in enumerate(keys):
        m.predicted(k, 0.5, t=1000.0 + i * 1e-4)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    entry = (after - before) / n
    return {"entry": entry, "key": float(sys.getsizeof(keys[0])), "n": float(n)}


def scrape_cost(
    groups: int, windows: int, replicates: int, per_group: int = 4, reps: int = 3, writer: bool = True
) -> dict[str, float]:
    """Seconds per scrape (median and max of ``reps``) of a monitor whose ``groups`` groups
    all record in each of ``windows`` one-minute windows; plus snapshot costs and (with
    ``writer``) the record cost of a thread recording while scrapes run (ns per record,
    100-call blocks)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from calipers.monitor import PrometheusCollector

    clock = [0.0]
    m = CalibrationMonitor(
        window=60.0, history=windows, max_groups=groups, replicates=replicates, seed=0,
        thresholds={"ece": 0.05}, clock=lambda: clock[0],
    )  # fmt: skip
    keys = np.array([f"group-{i:04d}" for i in range(groups)])
    rng = np.random.default_rng(3)

    def fill(w: int) -> None:
        n = groups * per_group
        p = rng.random(n)
        m.record_many(p, (rng.random(n) < p**1.3).astype(int), groups=keys[np.arange(n) % groups], t=w * 60.0 + 30.0)

    t0 = time.perf_counter()
    for w in range(windows):
        clock[0] = w * 60.0 + 30.0
        fill(w)
        m.flush()
    out: dict[str, float] = {"build_s": time.perf_counter() - t0, "state_mb": m.nbytes / 1e6}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrometheusCollector(m))

    def scrape() -> float:
        t = time.perf_counter()
        generate_latest(registry)
        return time.perf_counter() - t

    scrape()
    collector = PrometheusCollector(m)
    families = list(collector.collect())
    out["samples"] = float(sum(len(f.samples) for f in families))
    runs: dict[str, list[float]] = {"idle": [], "steady": [], "rollover": [], "collect": [], "copy": []}
    from calipers.monitor import reading

    state = m._state
    for _ in range(reps):
        t = time.perf_counter()
        list(collector.collect())  # the read, without prometheus_client's formatting
        runs["collect"].append(time.perf_counter() - t)
        with state.read_lock:  # what a read of the whole ring copies under the lock recording threads take
            reading.sync(state)  # (replicates drawn and retired windows settled first, as every read does)
            with state.lock:
                t = time.perf_counter()
                reading.SelectionRead(state, state.ring.select(None, False), False)
                runs["copy"].append(time.perf_counter() - t)
    for k in range(reps):
        runs["idle"].append(scrape())
        fill(windows - 1 + k)
        runs["steady"].append(scrape())
        clock[0] = (windows + k) * 60.0 + 1.0  # a window closes: the ring turns
        fill(windows + k)
        runs["rollover"].append(scrape())
    for name, values in runs.items():
        out[f"{name}_median_s"], out[f"{name}_max_s"] = float(np.median(values)), max(values)
    t0 = time.perf_counter()
    m.snapshot(smooth=False)
    out["snapshot_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    m.snapshot()
    out["snapshot_smooth_s"] = time.perf_counter() - t0

    def record_blocks(seconds: float, scraping: bool) -> np.ndarray:
        stop = threading.Event()
        blocks: list[float] = []

        def writer() -> None:
            rec, ns, i = m.record, time.perf_counter_ns, 0
            while not stop.is_set():
                start = ns()
                for j in range(100):
                    rec(0.3, j & 1, group=keys[(i + j) % groups])
                blocks.append((ns() - start) / 100)
                i += 100

        thread = threading.Thread(target=writer)
        thread.start()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if scraping:
                scrape()
            else:
                time.sleep(0.05)
        stop.set()
        thread.join()
        return np.array(blocks)

    for label, scraping in (("alone", False), ("scraping", True)) if writer else ():
        b = record_blocks(3.0, scraping)
        out[f"record_{label}_median_ns"] = float(np.median(b))
        out[f"record_{label}_p99_ns"] = float(np.quantile(b, 0.99))
        out[f"record_{label}_max_ns"] = float(b.max())
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_load(monitor: bool, requests: int, clients: int) -> dict[str, float]:
    """Run examples/serve_fastapi.py and drive it with ``clients`` threads."""
    import httpx
    from sklearn.datasets import load_breast_cancer

    _, labels = load_breast_cancer(return_X_y=True)
    port = _free_port()
    cmd = [sys.executable, str(ROOT / "examples" / "serve_fastapi.py"), "--port", str(port)]
    if not monitor:
        cmd.append("--no-monitor")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    # the server on core 0, the load generator on the others: on a 2-core VM the two otherwise
    # fight for both cores and the on/off ratio swings by +-15% from run to run
    split = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    cores = sorted(os.sched_getaffinity(0)) if split else []
    pin_server = (lambda: os.sched_setaffinity(0, {cores[0]})) if split else None
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin_server)
    if split:
        os.sched_setaffinity(0, set(cores[1:]))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(base + "/predict", json={"row": 0}, timeout=2)
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the example server did not start") from None
                time.sleep(0.2)
        latencies: list[list[float]] = [[] for _ in range(clients)]
        per = requests // clients

        barrier = threading.Barrier(clients + 1)

        def client(k: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                for i in range(-WARMUP_PAIRS, per):  # the first WARMUP_PAIRS are untimed
                    if i == 0:
                        barrier.wait()
                    row = (k * per + i) % len(labels)
                    t0 = time.perf_counter()
                    rid = c.post("/predict", json={"row": row, "group": "ab"[i & 1]}).json()["id"]
                    c.post("/feedback", json={"id": rid, "label": int(labels[row])})
                    if i >= 0:
                        latencies[k].append(time.perf_counter() - t0)

        wall = _run_together(client, clients, barrier)
        lat = np.concatenate([np.array(x) for x in latencies]) * 1e3
        counted = None
        if monitor:
            counted = httpx.get(base + "/calibration", timeout=30).json()["count"]
        return {
            "pairs_per_s": per * clients / wall,
            "requests_per_s": 2 * per * clients / wall,
            "p50_ms": float(np.median(lat)),
            "p99_ms": float(np.quantile(lat, 0.99)),
            "counted": counted if counted is not None else float("nan"),
            "sent": (per + WARMUP_PAIRS) * clients,
        }
    finally:
        if split:
            os.sched_setaffinity(0, set(cores))
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


SIZES: dict[str, dict[str, int]] = {
    # records per record() run; server pairs and clients (0 = no server); the scrape monitor; the memory
    # monitor (bytes per group-window do not depend on its size); pending predictions measured
    "tiny": dict(records=4000, requests=0, clients=2, groups=20, windows=3, replicates=10,
                 mem_groups=20, mem_windows=3, pending=5000, alternations=1),
    "quick": dict(records=400_000, requests=400, clients=4, groups=100, windows=10, replicates=50,
                  mem_groups=100, mem_windows=10, pending=100_000, alternations=5),
    "full": dict(records=400_000, requests=1500, clients=8, groups=1000, windows=60, replicates=200,
                 mem_groups=100, mem_windows=10, pending=100_000, alternations=5),
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Every section at the chosen sizes."""
    args = parse_args(__doc__ or "", argv)
    report = Report(__file__, args, PEERS)
    mode = report.mode
    size = SIZES[mode]
    rounds = ROUNDS[mode][0]
    table = report.table(
        "serving-record",
        f"`CalibrationMonitor.record` from Python, 100 groups, {size['records']:,} records per run, ns per record: "
        f"amortised (wall time / records, flushes included) and 100-call blocks; best / median of {rounds} runs "
        f"after {WARMUP} untimed run",
        ["threads", "replicates", "amortised", "median of blocks", "p99 of blocks", "lost"],
    )
    amortised: dict[tuple[int, int], float] = {}
    blocks: list[float] = []
    lost = 0
    for nthreads, reps in ((1, 0), (8, 0), (1, 200), (8, 200)):
        for _ in range(WARMUP):
            record_cost(size["records"] // 10, nthreads, reps)
        runs = [record_cost(size["records"], nthreads, reps) for _ in range(rounds)]
        t = Timing(tuple(r["amortised_ns"] * 1e-9 for r in runs), WARMUP)
        block = statistics.median(r["median_ns"] for r in runs) * 1e-9
        table.add(
            nthreads,
            reps,
            t.cell(),
            fmt_seconds(block),
            fmt_seconds(statistics.median(r["p99_ns"] for r in runs) * 1e-9),
            sum(r["lost"] for r in runs),
        )
        amortised[nthreads, reps], lost = t.median, lost + int(sum(r["lost"] for r in runs))
        blocks.append(block)
        if (nthreads, reps) == (1, 200):
            report.quote("monitor_record", f"{fmt_seconds(t.median)} amortised (replicates=200, one thread)")
    report.quote(
        "monitor_record_costs",
        f"{fmt_seconds(min(blocks))} to {fmt_seconds(max(blocks))} per call between flushes (the median 100-call "
        f"block) and {fmt_seconds(min(amortised.values()))} to {fmt_seconds(max(amortised.values()))} amortised "
        f"with the flushes (median of {rounds} runs), from one thread or 8, with replicates=0 or 200; "
        + ("nothing lost" if not lost else f"{lost} records lost"),
    )
    extra = amortised[1, 200] - amortised[1, 0]
    report.quote(
        "monitor_record_replicates",
        (f"{fmt_seconds(extra)} more" if extra > 0 else "no more")
        + f" at R = 200 ({fmt_seconds(amortised[1, 200])} against {fmt_seconds(amortised[1, 0])} amortised, one "
        "thread)",
    )
    table = report.table(
        "serving-sketch-update",
        "One-record `ReliabilitySketch.update` (per call; rounds of 2000 calls)",
        ["replicates", "best / median"],
    )
    for reps in (0, 200):
        t = measure(lambda: sketch_update_cost(reps), mode)
        table.add(reps, f"{fmt_seconds(t.best / 2000)} / {fmt_seconds(t.median / 2000)}")
    g, w = size["mem_groups"], size["mem_windows"]
    big_g, big_w = 1000, 60
    columns = ["`grid` (cells)", "bytes per group-window (row + counters)",
               f"{big_g} groups x {big_w} windows (computed; + the overall state)"]  # fmt: skip
    table = report.table(
        "serving-memory",
        f"Memory of a 15-bin monitor: bytes per group-window measured on a {g} groups x {w} windows monitor "
        f"(its nbytes checked against the layout); the {big_g} x {big_w} totals computed from them",
        columns,
    )
    labels = {None: "`None` (default: equal-width bins only)", "compact": '`"compact"`', "fine": '`"fine"`'}
    layouts = {}
    for grid in (None, "compact", "fine"):
        lay = layouts[grid] = state_layout(grid, g, w)
        per = lay["row"] + lay["counters"]
        overall = lay["overall"]
        total = big_w * (overall + big_g * per + lay["counters"])
        table.add(labels[grid] + (f" ({lay['cells']} cells)" if lay["cells"] else ""),
                  f"{per:,} ({lay['row']:,} + {lay['counters']})", fmt_bytes(total))  # fmt: skip
    report.quote("monitor_overall_bytes", f'`"fine"`: {overall:,} bytes at 15 bins')
    report.quote("monitor_memory_table", quoted_table(columns, table.rows))
    reps = 200
    rm = replicate_memory(g, w, reps)
    table = report.table(
        "serving-memory-replicates",
        f"What replicates={reps} add to a 15-bin monitor whose {g} groups all record in each of {w} windows",
        ["measure", "value"],
    )
    table.add("bytes per group-window with records (and per window overall)", f"{rm['per_group_window']:,.0f}")
    table.add("bytes per group of the ring's running total", f"{rm['per_group_total']:,.0f}")
    table.add(f"the whole monitor (without replicates: {rm['without_mb']:.1f} MB)",
              f"{rm['total_mb']:.1f} MB ({rm['totals_mb']:.1f} MB of it the running total)")  # fmt: skip
    plain = layouts[None]
    big = big_w * (big_g + 1) * rm["per_group_window"] + (big_g + 1) * rm["per_group_total"]
    big += big_w * (plain["overall"] + big_g * (plain["row"] + plain["counters"]) + plain["counters"])
    report.quote(
        "monitor_replicates_bytes",
        f"{rm['per_group_window']:,.0f} and {rm['per_group_total']:,.0f} bytes at R = {reps}, 15 bins",
    )
    report.quote(
        "monitor_replicates_memory",
        f"{g} active groups x {w} windows at R = {reps} take {fmt_bytes(rm['total_mb'] * 1e6)} (measured; "
        f"{fmt_bytes(rm['totals_mb'] * 1e6)} of it the running total), {big_g} groups recording in each of "
        f"{big_w} windows {fmt_bytes(big)} (computed from the bytes above)",
    )
    n_pending = size["pending"]
    pb = pending_bytes(n_pending)
    table = report.table(
        "serving-memory-pending", f"A pending prediction (tracemalloc over {n_pending:,} `predicted` calls)",
        ["part", "bytes"]
    )  # fmt: skip
    table.add("the table's entry: a dict slot, a 4-tuple and two floats", f"{pb['entry']:.0f}")
    table.add("a 16-character id (sys.getsizeof)", f"{pb['key']:.0f}")
    per_entry = pb["entry"] + pb["key"]
    report.quote(
        "monitor_pending",
        f"{per_entry:.0f} bytes ({pb['entry']:.0f} for the dict slot, a 4-tuple and two floats, by tracemalloc over "
        f"{n_pending:,} `predicted` calls, plus {pb['key']:.0f} for a 16-character id): 100,000 pending predictions "
        f"take {fmt_bytes(100_000 * per_entry)}",
    )
    g, w, r = size["groups"], size["windows"], size["replicates"]
    sc = scrape_cost(g, w, r, reps=rounds)
    table = report.table(
        "serving-scrape",
        f"One Prometheus scrape of a monitor with {g} groups x {w} windows, replicates={r}, every group in every "
        f"window (state {sc['state_mb']:.0f} MB); {rounds} scrapes each",
        ["scrape", "median", "max"],
    )
    for name, what in (
        ("idle", "nothing new"),
        ("steady", f"after {4 * g} new records (4 in every group)"),
        ("rollover", "right after a window closes"),
    ):
        table.add(what, fmt_seconds(sc[name + "_median_s"]), fmt_seconds(sc[name + "_max_s"]))
    table.add("the read alone (PrometheusCollector.collect(), no formatting)", fmt_seconds(sc["collect_median_s"]),
              fmt_seconds(sc["collect_max_s"]))  # fmt: skip
    table.add("what a read of the whole ring copies under the state lock", fmt_seconds(sc["copy_median_s"]),
              fmt_seconds(sc["copy_max_s"]))  # fmt: skip
    table.add("snapshot(smooth=False), once", fmt_seconds(sc["snapshot_s"]), "-")
    table.add("snapshot() (smooth ECE of every group), once", fmt_seconds(sc["snapshot_smooth_s"]), "-")
    setup = f"{g} groups x {w} windows"
    report.quote("monitor_read_copy", f"{fmt_seconds(sc['copy_median_s'])} for the whole ring of {setup}")
    report.quote(
        "monitor_snapshot_smooth",
        f"{fmt_seconds(sc['snapshot_smooth_s'])} at {g} groups, {fmt_seconds(sc['snapshot_smooth_s'] / g)} per group",
    )
    report.quote(
        "monitor_scrape",
        f"{g} groups each recording in each of {w} windows, replicates={r} (a {fmt_bytes(sc['state_mb'] * 1e6)} "
        f"state), {rounds} scrapes each: {fmt_seconds(sc['idle_median_s'])} per scrape with nothing new, "
        f"{fmt_seconds(sc['steady_median_s'])} after 4 new records in every group, "
        f"{fmt_seconds(sc['rollover_median_s'])} (at most {fmt_seconds(sc['rollover_max_s'])}) right after a "
        "window closes",
    )
    fmt_share = max(sc["idle_median_s"] - sc["collect_median_s"], 0.0)
    report.quote(
        "monitor_scrape_format",
        f"{fmt_seconds(fmt_share)} of an idle scrape is prometheus_client formatting the {sc['samples']:,.0f} samples "
        f"(the read alone: {fmt_seconds(sc['collect_median_s'])})",
    )
    for label in ("alone", "scraping"):
        table.add(
            f"record() from one thread, {'no reader' if label == 'alone' else 'scrapes back to back'} "
            "(100-call blocks, per record)",
            fmt_seconds(sc[f"record_{label}_median_ns"] * 1e-9),
            fmt_seconds(sc[f"record_{label}_max_ns"] * 1e-9),
        )
    del sc
    if not size["requests"]:
        report.note("tiny mode: no server run")
        report.finish()
        return
    table = report.table(
        "serving-server",
        f"examples/serve_fastapi.py under uvicorn on 127.0.0.1, {size['clients']} client threads, "
        f"{size['requests']} predict + feedback pairs per run (after 10 untimed pairs per client), monitor off and "
        "on interleaved",
        ["monitor", "pairs/s", "HTTP requests/s", "p50 ms (pair)", "p99 ms (pair)", "feedback counted / sent"],
    )
    results: dict[bool, list[dict[str, float]]] = {}
    for on in (False, True) * size["alternations"]:  # interleaved: the VM's load drifts
        res = serve_and_load(on, size["requests"], size["clients"])
        results.setdefault(on, []).append(res)
        counted = f"{res['counted']:.0f} / {res['sent']}" if on else "-"
        table.add("on" if on else "off", f"{res['pairs_per_s']:.0f}", f"{res['requests_per_s']:.0f}",
                  f"{res['p50_ms']:.1f}", f"{res['p99_ms']:.1f}", counted)  # fmt: skip
    off = float(np.median([x["pairs_per_s"] for x in results[False]]))
    on_ = float(np.median([x["pairs_per_s"] for x in results[True]]))
    # each on run against the off run before it: the spread says how much of the ratio is the VM
    pairs = [b["pairs_per_s"] / a["pairs_per_s"] for a, b in zip(results[False], results[True])]
    report.note(
        f"throughput with the monitor / without (medians of {len(pairs)} interleaved runs each): {on_ / off:.3f} "
        f"(overhead {100 * (1 - on_ / off):.1f}%); run-pair ratios from {min(pairs):.3f} to {max(pairs):.3f} "
        "(server pinned to one core, the load generator to the other)"
    )
    report.finish()


if __name__ == "__main__":
    main()
