"""Scoring prediction logs: rows/s and peak RSS of ``calipers score`` on Parquet, CSV and
JSONL, in one process and on a 2-worker dask LocalCluster, and of ``calipers fit isotonic``
and ``calipers apply``, on one generated log.

    python bench/bench_logs.py --quick   # 10^6 rows in 10 files per format
    python bench/bench_logs.py --full    # 10^7 rows
    python -m pytest bench/bench_logs.py --benchmark-enable   # the readers on 10^5 rows

Every run is a fresh process running the command, so its peak RSS (VmHWM) is the command's
own; with --dask the worker processes' peak (ru_maxrss of the children) is reported too.
Seconds count from the command's start, imports excluded, cluster start-up included. One
untimed run per format first (the page cache, .pyc files), then the same number of timed runs
for every cell (``RUNS``: 2 in quick mode, 5 in full); no dask rows in tiny mode. The log has an id, a score, a 0/1
label, a model name and an epoch timestamp per row; malformed rows are not included (their
cost is the row parser's, by design rare).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from timing import ROUNDS, WARMUP, Report, Timing, parse_args

PEERS = ("pyarrow", "distributed")
ROWS = {"tiny": 10**4, "quick": 10**6, "full": 10**7}
#: timed runs per cell (each a fresh process of a second or more)
RUNS = {"tiny": 2, "quick": 2, "full": ROUNDS["full"][0]}

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


def run(args: list[str]) -> dict[str, float]:
    """One fresh process running ``calipers ARGS``: seconds (imports excluded), peak RSS."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True, check=False)
    stats: dict[str, float] = json.loads(proc.stderr.strip().splitlines()[-1])
    if stats["code"] != 0:
        raise RuntimeError(proc.stderr)
    if "--json" in args:
        stats["rows"] = json.loads(proc.stdout)["rows"]
    return stats


def timed(args: list[str], mode: str) -> tuple[Timing, list[dict[str, float]]]:
    """The same number of timed runs for every cell (after the format's untimed warm-up run)."""
    runs = [run(args) for _ in range(RUNS[mode])]
    return Timing(tuple(r["seconds"] for r in runs), WARMUP), runs


def main(argv: list[str] | None = None) -> None:
    """Generate one log in three formats, then time every command on it."""
    args = parse_args(__doc__ or "", argv, **{"--no-dask": {"action": "store_true"}})
    report = Report(__file__, args, PEERS)
    rows = ROWS[report.mode]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        logs = generate(tmp, rows)
        sizes = {fmt: sum(os.path.getsize(p) for p in paths) / 1e6 for fmt, paths in logs.items()}
        report.note(
            f"generated {rows:,} rows x 3 formats in {time.perf_counter() - t:.0f} s: "
            + ", ".join(f"{fmt} {mb:,.0f} MB" for fmt, mb in sizes.items())
        )
        for fmt in logs:  # WARMUP untimed runs per format: the page cache and .pyc files
            for _ in range(WARMUP):
                run(["score", *logs[fmt], "--json"])
        modes: list[tuple[str, tuple[str, ...]]] = [("one process", ())]
        if not args.no_dask and report.mode != "tiny":
            try:
                import distributed  # noqa: F401

                modes.append(("dask local:2", ("--dask", "local:2")))
            except ImportError:
                report.note("dask.distributed is not installed: the dask rows are skipped")
        if len(modes) > 1:  # the cluster's own start-up, measured on a one-row log
            tiny = os.path.join(tmp, "tiny.jsonl")
            with open(tiny, "w") as fh:
                fh.write('{"score": 0.5, "label": 1}\n')
            start, _ = timed(["score", tiny, "--json", "--dask", "local:2"], report.mode)
            report.note(f"dask local:2 start-up and shutdown (a one-row log): {start.cell()} (best / median)")
        table = report.table(
            "logs-score",
            f"`calipers score` on {rows:,} rows in 10 files per format (a fresh process per run; imports "
            "excluded, dask cluster start-up included)",
            ["format", "mode", "options", "rows/s (best)", "seconds (best / median)", "peak RSS (MB)",
             "workers' peak RSS (MB)"],
        )  # fmt: skip
        rates: dict[str, float] = {}
        peak = 0.0
        for fmt in ("parquet", "csv", "jsonl"):
            for mode, flags in modes:
                for options in ((), ("--by", "model", "--time", "ts", "--window", "1h")):
                    t_run, runs = timed(["score", *logs[fmt], "--json", *flags, *options], report.mode)
                    assert all(r["rows"] == rows // 10 * 10 for r in runs)
                    rss = max(r["rss_mb"] for r in runs)
                    workers = f"{max(r['children_rss_mb'] for r in runs):.0f}" if flags else "-"
                    rate = rows // 10 * 10 / t_run.best
                    table.add(fmt, mode, " ".join(options) or "-", f"{rate:,.0f}", t_run.cell(), f"{rss:.0f}", workers)
                    if not flags and not options:
                        rates[fmt] = rate
                    if not flags:
                        peak = max(peak, rss)
        report.quote("logs_rows", f"{rows:,}")
        report.quote("logs_parquet", f"{rates['parquet'] / 1e6:.1f} M rows/s")
        report.quote("logs_csv", f"{rates['csv'] / 1e6:.1f} M")
        report.quote("logs_jsonl", f"{rates['jsonl'] / 1e6:.1f} M")
        report.quote("logs_peak_rss", f"{peak:.0f} MB")
        table = report.table(
            "logs-fit-apply",
            f"`calipers fit isotonic` and `calipers apply` on the same {rows:,} rows (one process)",
            ["command", "format", "rows/s (best)", "seconds (best / median)", "peak RSS (MB)"],
        )
        for fmt in ("parquet", "csv", "jsonl"):
            cal = os.path.join(tmp, f"cal-{fmt}.json")
            t_fit, runs = timed(["fit", "isotonic", *logs[fmt], "-o", cal, "--quiet"], report.mode)
            n = rows // 10 * 10
            table.add(
                "fit isotonic", fmt, f"{n / t_fit.best:,.0f}", t_fit.cell(), f"{max(r['rss_mb'] for r in runs):.0f}"
            )
            out = os.path.join(tmp, f"out.{fmt}")
            t_apply, runs = timed(["apply", cal, *logs[fmt], "-o", out, "--quiet"], report.mode)
            table.add("apply (append a calibrated column)", fmt, f"{n / t_apply.best:,.0f}", t_apply.cell(),
                      f"{max(r['rss_mb'] for r in runs):.0f}")  # fmt: skip
            if fmt == "parquet":
                report.quote("apply_parquet", f"{n / t_apply.best / 1e6:.1f} M rows/s")
    report.finish()


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
