"""Serving benchmark: the cost of calipers.CalibrationMonitor inside an inference server.

    python bench/bench_serving.py [--records 400000] [--requests 1500] [--clients 8]
                                  [--scrape-groups 1000] [--scrape-windows 60] [--scrape-replicates 200]

Prints, in one bounded run (about three minutes on a 2-core VM; the scrape section holds
about 6 GB at its defaults, 1000 groups x 60 windows x 200 replicates):

1. ``record`` cost from Python, single-threaded and with 8 threads: amortised per record
   (total time / records, flushes included) and the median and p99 of blocks of 100 calls;
2. the streaming bootstrap: ``record`` with replicates=200, and one-record
   ``ReliabilitySketch.update`` with replicates=200;
3. bytes per group-window of a 1000 groups x 60 windows x 15 bins monitor;
4. the read path: one Prometheus scrape (``generate_latest`` of a registry holding a
   ``PrometheusCollector``) of a monitor with every group recording in every window,
   idle, after new records in every group, and right after a window closes (the ring
   turns, the closed window's metrics and alerts are computed); ``snapshot()`` with and
   without the smooth ECE; and the ``record`` cost of a thread recording meanwhile;
5. examples/serve_fastapi.py under uvicorn on 127.0.0.1, driven by a bounded load generator
   (``--clients`` threads, each predict + feedback), with the monitor on and off:
   requests/s, p50/p99 latency, and the throughput overhead ratio.

Every server it starts listens on 127.0.0.1 only and is stopped before it exits.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import numpy as np

import calipers
from calipers import CalibrationMonitor

ROOT = pathlib.Path(__file__).parents[1]


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


def sketch_update_cost(replicates: int, n: int = 2000) -> float:
    """µs per one-record ReliabilitySketch.update."""
    s = calipers.ReliabilitySketch(replicates=replicates, seed=0)
    rng = np.random.default_rng(1)
    p = rng.random(n)
    t0 = time.perf_counter()
    for i in range(n):
        s.update([p[i]], [i & 1])
    return (time.perf_counter() - t0) / n * 1e6


def bytes_per_group_window(grid: str | None) -> tuple[float, float]:
    """(bytes per group-window, total MB) of 1000 groups x 60 windows x 15 bins."""
    clock = [0.0]
    m = CalibrationMonitor(window=1.0, history=60, max_groups=1000, grid=grid, clock=lambda: clock[0])
    keys = np.array([f"g{i}" for i in range(1000)])
    rng = np.random.default_rng(2)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)
    for w in range(60):
        clock[0] = w + 0.5
        m.record_many(p, y, groups=keys[np.arange(2000) % 1000], t=w + 0.5)
    total = m.nbytes
    overall = sum(win.overall.nbytes for win in m._windows.values())
    return (total - overall) / 60_000, total / 1e6


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

        def client(k: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                for i in range(per):
                    row = (k * per + i) % len(labels)
                    t0 = time.perf_counter()
                    rid = c.post("/predict", json={"row": row, "group": "ab"[i & 1]}).json()["id"]
                    c.post("/feedback", json={"id": rid, "label": int(labels[row])})
                    latencies[k].append(time.perf_counter() - t0)

        ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
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
            "sent": per * clients,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--requests", type=int, default=1500, help="predict + feedback pairs per server run")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--scrape-groups", type=int, default=1000)
    ap.add_argument("--scrape-windows", type=int, default=60)
    ap.add_argument("--scrape-replicates", type=int, default=200)
    args = ap.parse_args()
    print(f"calipers {calipers.__version__}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("\n## record() from Python (100 groups; ns per record)")
    print("| threads | replicates | amortised | median (100-call blocks) | p99 (100-call blocks) | lost |")
    print("|---|---|---|---|---|---|")
    for threads, reps in ((1, 0), (8, 0), (1, 200), (8, 200)):
        r = record_cost(args.records, threads, reps)
        print(
            f"| {threads} | {reps} | {r['amortised_ns']:.0f} | {r['median_ns']:.0f} | {r['p99_ns']:.0f} | {r['lost']} |"
        )
    print("\n## one-record ReliabilitySketch.update (µs per call)")
    for reps in (0, 200):
        print(f"replicates={reps}: {sketch_update_cost(reps):.1f} µs")
    print("\n## memory: 1000 groups x 60 windows x 15 bins")
    for grid in (None, "compact"):
        per, total = bytes_per_group_window(grid)
        print(f"grid={grid!r}: {per:.0f} bytes per group-window, {total:.1f} MB in all (with the fine overall state)")
    g, w, r = args.scrape_groups, args.scrape_windows, args.scrape_replicates
    sc = scrape_cost(g, w, r)
    print(f"\n## reading: {g} groups x {w} windows, replicates={r}, every group in every window")
    print(f"state {sc['state_mb']:.0f} MB, built in {sc['build_s']:.1f} s")
    print("| one Prometheus scrape | median s | max s |")
    print("|---|---|---|")
    for name, what in (
        ("idle", "nothing new"),
        ("steady", f"after {4 * g} new records (4 in every group)"),
        ("rollover", "right after a window closes"),
    ):
        print(f"| {what} | {sc[name + '_median_s']:.3f} | {sc[name + '_max_s']:.3f} |")
    print(f"snapshot(smooth=False): {sc['snapshot_s']:.3f} s; snapshot() (smooth ECE of every group): "
          f"{sc['snapshot_smooth_s']:.2f} s")  # fmt: skip
    print("| record() from one thread (ns per record, 100-call blocks) | median | p99 | max |")
    print("|---|---|---|---|")
    for label in ("alone", "scraping"):
        print(
            f"| {'no reader' if label == 'alone' else 'scrapes back to back'} | "
            f"{sc[f'record_{label}_median_ns']:.0f} | {sc[f'record_{label}_p99_ns']:.0f} | "
            f"{sc[f'record_{label}_max_ns']:.0f} |"
        )
    del sc
    print(
        f"\n## examples/serve_fastapi.py under uvicorn, {args.clients} clients, {args.requests} predict+feedback pairs"
    )
    print("| monitor | pairs/s | HTTP requests/s | p50 ms (pair) | p99 ms (pair) | feedback counted / sent |")
    print("|---|---|---|---|---|---|")
    results = {}
    for on in (False, True, False, True):  # interleaved: the VM's load drifts
        r = serve_and_load(on, args.requests, args.clients)
        results.setdefault(on, []).append(r)
        counted = f"{r['counted']:.0f} / {r['sent']}" if on else "-"
        print(
            f"| {'on' if on else 'off'} | {r['pairs_per_s']:.0f} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {counted} |"
        )
    off = np.mean([r["pairs_per_s"] for r in results[False]])
    on = np.mean([r["pairs_per_s"] for r in results[True]])
    print(f"\nthroughput with the monitor / without: {on / off:.3f} (overhead {100 * (1 - on / off):.1f}%)")


if __name__ == "__main__":
    main()
