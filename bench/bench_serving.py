"""Serving benchmark: the cost of calipers.CalibrationMonitor inside an inference server.

    python bench/bench_serving.py --quick   # 4 x 10^5 records per run, a 100 groups x 10 windows scrape, 400 requests
    python bench/bench_serving.py --full    # 1000 groups x 60 windows x 200 replicates
                                            # (about 6 GB), 1500 requests from 8 clients

Prints, in one bounded run:

1. ``record`` cost from Python, single-threaded and with 8 threads: amortised per record
   (total time / records, flushes included) and the median and p99 of blocks of 100 calls;
   with replicates=0 and 200 (the streaming bootstrap);
2. one-record ``ReliabilitySketch.update`` with replicates=0 and 200;
3. bytes per group-window of a groups x windows x 15 bins monitor;
4. the read path: one Prometheus scrape (``generate_latest`` of a registry holding a
   ``PrometheusCollector``) of a monitor with every group recording in every window,
   idle, after new records in every group, and right after a window closes (the ring
   turns, the closed window's metrics and alerts are computed); ``snapshot()`` with and
   without the smooth ECE; and the ``record`` cost of a thread recording meanwhile;
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

import numpy as np
from timing import ROUNDS, WARMUP, Report, Timing, fmt_seconds, measure, parse_args

import calipers
from calipers import CalibrationMonitor

ROOT = pathlib.Path(__file__).parents[1]
PEERS = ("prometheus-client", "fastapi", "uvicorn", "httpx")
#: untimed predict + feedback pairs per client before the timed ones
WARMUP_PAIRS = 10


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

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    m.flush()
    wall = time.perf_counter() - t0
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


def bytes_per_group_window(grid: str | None, groups: int = 1000, windows: int = 60) -> tuple[float, float]:
    """(bytes per group-window, total MB) of ``groups`` groups x ``windows`` windows x 15 bins."""
    clock = [0.0]
    m = CalibrationMonitor(window=1.0, history=windows, max_groups=groups, grid=grid, clock=lambda: clock[0])
    keys = np.array([f"g{i}" for i in range(groups)])
    rng = np.random.default_rng(2)
    p = rng.random(2 * groups)
    y = (rng.random(2 * groups) < p).astype(int)
    for w in range(windows):
        clock[0] = w + 0.5
        m.record_many(p, y, groups=keys[np.arange(2 * groups) % groups], t=w + 0.5)
    total = m.nbytes
    overall = sum(win.overall.nbytes for win in m._windows.values())
    return (total - overall) / (groups * windows), total / 1e6


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
    runs: dict[str, list[float]] = {"idle": [], "steady": [], "rollover": []}
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
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

        ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        wall = time.perf_counter() - t0
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
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


SIZES: dict[str, dict[str, int]] = {
    # records per record() run; server pairs and clients (0 = no server); the scrape monitor; the memory monitor
    "tiny": dict(records=4000, requests=0, clients=2, groups=20, windows=3, replicates=10,
                 mem_groups=50, mem_windows=5),
    "quick": dict(records=400_000, requests=400, clients=4, groups=100, windows=10, replicates=50,
                  mem_groups=1000, mem_windows=60),
    "full": dict(records=400_000, requests=1500, clients=8, groups=1000, windows=60, replicates=200,
                 mem_groups=1000, mem_windows=60),
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
    for nthreads, reps in ((1, 0), (8, 0), (1, 200), (8, 200)):
        for _ in range(WARMUP):
            record_cost(size["records"] // 10, nthreads, reps)
        runs = [record_cost(size["records"], nthreads, reps) for _ in range(rounds)]
        t = Timing(tuple(r["amortised_ns"] * 1e-9 for r in runs), WARMUP)
        table.add(
            nthreads,
            reps,
            t.cell(),
            fmt_seconds(statistics.median(r["median_ns"] for r in runs) * 1e-9),
            fmt_seconds(statistics.median(r["p99_ns"] for r in runs) * 1e-9),
            sum(r["lost"] for r in runs),
        )
        if (nthreads, reps) == (1, 200):
            report.quote("monitor_record", f"{fmt_seconds(t.median)} amortised (replicates=200, one thread)")
    table = report.table(
        "serving-sketch-update",
        "One-record `ReliabilitySketch.update` (per call; rounds of 2000 calls)",
        ["replicates", "best / median"],
    )
    for reps in (0, 200):
        t = measure(lambda: sketch_update_cost(reps), mode)
        table.add(reps, f"{fmt_seconds(t.best / 2000)} / {fmt_seconds(t.median / 2000)}")
    g, w = size["mem_groups"], size["mem_windows"]
    table = report.table(
        "serving-memory", f"Memory of a {g} groups x {w} windows x 15 bins monitor", ["grid", "bytes per group-window",
                                                                                      "MB in all"]
    )  # fmt: skip
    for grid in (None, "compact"):
        per, total = bytes_per_group_window(grid, g, w)
        table.add(repr(grid), f"{per:.0f}", f"{total:.1f}")
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
    table.add("snapshot(smooth=False), once", fmt_seconds(sc["snapshot_s"]), "-")
    table.add("snapshot() (smooth ECE of every group), once", fmt_seconds(sc["snapshot_smooth_s"]), "-")
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
    for on in (False, True, False, True):  # interleaved: the VM's load drifts
        res = serve_and_load(on, size["requests"], size["clients"])
        results.setdefault(on, []).append(res)
        counted = f"{res['counted']:.0f} / {res['sent']}" if on else "-"
        table.add("on" if on else "off", f"{res['pairs_per_s']:.0f}", f"{res['requests_per_s']:.0f}",
                  f"{res['p50_ms']:.1f}", f"{res['p99_ms']:.1f}", counted)  # fmt: skip
    off = float(np.mean([x["pairs_per_s"] for x in results[False]]))
    on_ = float(np.mean([x["pairs_per_s"] for x in results[True]]))
    report.note(f"throughput with the monitor / without: {on_ / off:.3f} (overhead {100 * (1 - on_ / off):.1f}%)")
    report.finish()


if __name__ == "__main__":
    main()
