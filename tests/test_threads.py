"""The process-wide C++ thread pool: bounded whatever the number of calling threads,
configurable, and invisible in the results."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import calipers

pytestmark = pytest.mark.skipif(calipers.available_backends()["cpp"] != "ok", reason="needs the C++ extension")

PROBE = r"""
import os, threading, time
import numpy as np
import calipers

def os_threads():
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("Threads:")).split()[1])

calipers.set_num_threads(POOL)
p = np.random.default_rng(0).random(600_000)   # above the 2^18-value threshold: parallel
y = (p > 0.5).astype(np.int8)
calipers.ReliabilitySketch().update(p[:10], y[:10])
base = os_threads()
peak = [base]
stop = threading.Event()

def watch():
    while not stop.is_set():
        peak[0] = max(peak[0], os_threads())
        time.sleep(0.0005)

start = threading.Barrier(16)
def work():
    s = calipers.ReliabilitySketch()
    start.wait()
    for _ in range(6):
        s.update(p, y)
    assert s.count == 6 * p.size

watcher = threading.Thread(target=watch)
watcher.start()
workers = [threading.Thread(target=work) for _ in range(16)]
for t in workers: t.start()
for t in workers: t.join()
stop.set(); watcher.join()
print(base, peak[0], calipers.get_num_threads())
"""


@pytest.mark.parametrize("pool", [1, 2, 4])
def test_sixteen_python_threads_add_at_most_the_pool(pool: int) -> None:
    """16 updating threads + 1 watcher; the process may add at most pool - 1 workers."""
    env = {k: v for k, v in os.environ.items() if k != "CALIPERS_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE.replace("POOL", str(pool)))],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    base, peak, threads = map(int, proc.stdout.split())
    assert threads == pool
    assert peak - base <= 16 + 1 + (pool - 1), f"{peak - base} OS threads added for a pool of {pool}"


def test_env_variable_sets_the_default() -> None:
    code = "import calipers; print(calipers.get_num_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CALIPERS_NUM_THREADS": "3"},
    )
    assert out.stdout.strip() == "3"


def test_set_num_threads_checks_its_argument() -> None:
    with pytest.raises(TypeError, match="integer"):
        calipers.set_num_threads(2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[1, 256\]"):
        calipers.set_num_threads(0)


def test_results_do_not_depend_on_the_thread_count() -> None:
    rng = np.random.default_rng(5)
    P = rng.dirichlet(np.ones(4), 300_000)
    y = rng.integers(0, 4, 300_000)
    before = calipers.get_num_threads()
    blobs = []
    try:
        for n in (1, 2, 5):
            calipers.set_num_threads(n)
            blobs.append(calipers.ReliabilitySketch(classes=4).update(P, y).to_bytes())
    finally:
        calipers.set_num_threads(before)
    assert blobs[0] == blobs[1] == blobs[2]


def test_the_gil_is_released_during_updates() -> None:
    """A second Python thread makes progress while one thread is inside a long C++ update."""
    import threading
    import time

    p = np.random.default_rng(1).random(4_000_000)
    y = (p > 0.3).astype(np.int8)
    before = calipers.get_num_threads()
    calipers.set_num_threads(1)
    ticks = []
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    try:
        t = threading.Thread(target=tick)
        t.start()
        time.sleep(0.01)
        start = time.perf_counter()
        calipers.ReliabilitySketch().update(p, y)
        end = time.perf_counter()
        done.set()
        t.join()
    finally:
        calipers.set_num_threads(before)
    inside = [x for x in ticks if start < x < end]
    assert end - start > 0.02  # long enough to tell
    assert len(inside) >= 3, f"only {len(inside)} ticks while the update ran {end - start:.3f} s"
