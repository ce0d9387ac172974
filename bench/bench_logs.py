"""Scoring prediction logs: rows/s and peak RSS of ``calipers score`` on Parquet, CSV and
JSONL, in one process and on a 2-worker dask LocalCluster, on one generated log.

    python bench/bench_logs.py                 # 10^7 rows in 10 files per format
    python bench/bench_logs.py --rows 1000000  # smaller
    python -m pytest bench/bench_logs.py --benchmark-enable   # the readers on 10^5 rows

Every run is a fresh process running ``calipers score``, so its peak RSS (VmHWM) is the
command's own; with --dask the worker processes' peak (ru_maxrss of the children) is
reported too. Seconds count from the command's start, imports excluded, cluster start-up
included. The log has an id, a
score, a 0/1 label, a model name and an epoch timestamp per row; malformed rows are not
included (their cost is the row parser's, by design rare).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

# Peak RSS from VmHWM: ru_maxrss survives fork and exec on Linux, so a child started by a
# big parent would report the parent's peak.
_RUNNER = r"""
import json, resource, sys, time
from calipers.cli import main
t = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - t
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"code": code, "seconds": elapsed, "rss_mb": hwm / 1024,
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}),
      file=sys.stderr)
"""


def _block(rows: int, seed: int, start: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(rows)
    return {
        "id": np.arange(start, start + rows),
        "score": np.round(p, 6),
        "label": (rng.random(rows) < p**1.2).astype(np.int64),
        "model": np.array(["small", "base", "large"])[rng.integers(0, 3, rows)],
        "ts": 1_767_225_600 + np.arange(start, start + rows) // 100,
    }


def generate(directory: str, rows: int, files: int = 10) -> dict[str, list[str]]:
    """The same rows as CSV, JSONL and Parquet, split into ``files`` files per format."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out: dict[str, list[str]] = {"parquet": [], "csv": [], "jsonl": []}
    per_file = rows // files
    for f in range(files):
        b = _block(per_file, f, f * per_file)
        cols = [b["id"].tolist(), b["score"].tolist(), b["label"].tolist(), b["model"].tolist(), b["ts"].tolist()]
        path = os.path.join(directory, f"log{f:02d}")
        with open(path + ".csv", "w") as fh:
            fh.write("id,score,label,model,ts\n")
            fh.write("".join(f"{i},{s},{y},{m},{t}\n" for i, s, y, m, t in zip(*cols)))
        with open(path + ".jsonl", "w") as fh:
            fh.write(
                "".join(
                    f'{{"id": {i}, "score": {s}, "label": {y}, "model": "{m}", "ts": {t}}}\n'
                    for i, s, y, m, t in zip(*cols)
                )
            )
        pq.write_table(pa.table(b), path + ".parquet")
        for fmt in out:
            out[fmt].append(f"{path}.{fmt}")
    return out


def run(paths: list[str], *extra: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, "score", *paths, "--json", *extra], capture_output=True, text=True, check=False
    )
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    if stats["code"] != 0:
        raise RuntimeError(proc.stderr)
    stats["rows"] = json.loads(proc.stdout)["rows"]
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10**7)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        logs = generate(tmp, args.rows)
        sizes = {fmt: sum(os.path.getsize(p) for p in paths) / 1e6 for fmt, paths in logs.items()}
        print(
            f"generated {args.rows:,} rows x 3 formats in {time.perf_counter() - t:.0f} s "
            + ", ".join(f"{fmt} {mb:,.0f} MB" for fmt, mb in sizes.items())
        )
        modes: list[tuple[str, tuple[str, ...]]] = [("one process", ())]
        if not args.no_dask:
            try:
                import distributed  # noqa: F401

                modes.append(("dask local:2", ("--dask", "local:2")))
            except ImportError:
                print("dask.distributed is not installed: the dask rows are skipped")
        if len(modes) > 1:  # the cluster's own start-up, measured on a one-row log
            tiny = os.path.join(tmp, "tiny.jsonl")
            with open(tiny, "w") as fh:
                fh.write('{"score": 0.5, "label": 1}\n')
            print(f"dask local:2 start-up and shutdown: {run([tiny], '--dask', 'local:2')['seconds']:.1f} s")
        print("\n| format | mode | options | rows/s | seconds | peak RSS (MB) | workers' peak RSS (MB) |")
        print("|---|---|---|---|---|---|---|")
        for fmt in ("parquet", "csv", "jsonl"):
            for mode, flags in modes:
                for options in ((), ("--by", "model", "--time", "ts", "--window", "1h")):
                    stats = run(logs[fmt], *flags, *options)
                    assert stats["rows"] == args.rows // 10 * 10
                    workers = f"{stats['children_rss_mb']:.0f}" if flags else "-"
                    print(
                        f"| {fmt} | {mode} | {' '.join(options) or '-'} | {stats['rows'] / stats['seconds']:,.0f} "
                        f"| {stats['seconds']:.2f} | {stats['rss_mb']:.0f} | {workers} |",
                        flush=True,
                    )


# pytest-benchmark: the readers alone on 10^5 rows (no process start-up).
@pytest.fixture(scope="module")
def small_logs(tmp_path_factory):
    pytest.importorskip("pyarrow")
    return generate(str(tmp_path_factory.mktemp("logs")), 10**5, files=1)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize("fast", [True, False], ids=["scanner", "row-parser"])
def test_read(benchmark, small_logs, fmt, fast):
    from calipers.io import Columns, read_table_chunks

    if fmt == "parquet" and not fast:
        pytest.skip("Parquet has one reader")

    def read() -> int:
        return sum(len(c.labels) for c in read_table_chunks(small_logs[fmt], Columns(), fast=fast))

    assert benchmark(read) == 10**5


if __name__ == "__main__":
    main()
