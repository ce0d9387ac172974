"""``calipers score``: logs into sketches (overall, per group, per window), in this process
or spread over dask workers, then the report."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io.readers import read_table_chunks
from ..io.records import Columns, Skipped
from ..streaming.grouped import GroupedSketch
from ..streaming.sketch import ReliabilitySketch
from .common import CommandError, Progress, columns, log_paths
from .output import print_report, window_label
from .scored import Scored, merge_scored


@dataclass(frozen=True)
class Plan:
    """What to read and how to keep it: picklable, so dask workers run the same code."""

    cols: Columns
    bins: int
    backend: str
    chunk_size: int
    strict: bool
    window: float | None
    replicates: int = 0


def plan_of(args: argparse.Namespace) -> Plan:
    return Plan(
        columns(args),
        args.bins,
        args.backend,
        args.chunk_size,
        args.strict,
        getattr(args, "window", None),
        getattr(args, "bootstrap", 0) or 0,
    )


def score_file(path: str, plan: Plan, on_rows: Any = None, on_bytes: Any = None) -> Scored:
    """One log file into sketches: overall, per group (--by) and per window (--time/--window)."""
    out = Scored(
        ReliabilitySketch(bins=plan.bins, backend=plan.backend, replicates=plan.replicates),
        0,
        Skipped(),
        GroupedSketch(plan.bins, backend=plan.backend),
        GroupedSketch(plan.bins, backend=plan.backend),
    )
    for chunk in read_table_chunks(
        [path], plan.cols, chunk_size=plan.chunk_size, strict=plan.strict, skipped=out.skipped, on_bytes=on_bytes
    ):
        out.sketch.update(chunk.scores, chunk.labels)
        if chunk.groups is not None:
            out.groups.update(chunk.scores, chunk.labels, np.asarray(chunk.groups))
        if plan.window and chunk.times is not None:
            out.windows.update(chunk.scores, chunk.labels, np.floor(chunk.times / plan.window).astype(np.int64))
        out.rows += len(chunk.labels)
        if on_rows is not None:
            on_rows(len(chunk.labels))
    return out


def stream_sketch(args: argparse.Namespace, paths: list[str]) -> Scored:
    """Read the logs into sketches (overall, per group, per window) in this process."""
    plan = plan_of(args)
    sizes = [os.path.getsize(p) for p in paths]
    report = Progress(not args.quiet and not getattr(args, "json", False) and sys.stderr.isatty(), sum(sizes))
    rows = [0]

    def on_rows(n: int) -> None:
        rows[0] += n
        report(rows[0])

    parts = []
    for path, size in zip(paths, sizes):
        parts.append(score_file(path, plan, on_rows, report.within_file))
        report.file_done(size)
    report(rows[0], done=True)
    return merge_scored(parts)


def dask_client(spec: str) -> Any:
    from distributed import Client, LocalCluster

    if spec.startswith("local:"):
        workers = int(spec.split(":", 1)[1])
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    return Client(spec)


def score_dask(args: argparse.Namespace, paths: list[str]) -> Scored:
    """Files spread across dask workers; their sketches (overall, per group, per window)
    merged in a tree on the cluster."""
    import functools

    from ..dask import tree_merge

    read = functools.partial(score_file, plan=plan_of(args))
    try:
        client = dask_client(args.dask)
    except (ValueError, OSError) as exc:
        raise CommandError(f"cannot start or reach dask at {args.dask!r}: {exc}") from exc
    import dask

    try:
        parts = [dask.delayed(read, pure=False)(p) for p in paths]
        merged: Scored = client.compute(tree_merge(parts, merge=merge_scored)).result()
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and args.dask.startswith("local:"):
            cluster.close()
    return merged


def run_score(args: argparse.Namespace) -> int:
    paths = log_paths(args, "score")
    result = score_dask(args, paths) if args.dask else stream_sketch(args, paths)
    sketch, rows, skipped = result.sketch, result.rows, result.skipped
    if args.save_sketch:
        with open(args.save_sketch, "wb") as fh:
            fh.write(sketch.to_bytes())
    if args.report:
        from .html_report import write_report

        try:
            page = write_report(
                args.report,
                sketch,
                rows=rows,
                skipped=skipped.counts,
                skipped_first=skipped.first,
                binning=args.binning,
                groups=dict(result.groups.items()),
                windows={window_label(i * args.window): v for i, v in result.windows.items()},
            )
        except ImportError as exc:
            raise CommandError(str(exc)) from exc
        if not args.quiet:
            print(f"calipers score: report written to {page}", file=sys.stderr)
    return print_report(result, args.binning, args.json, f"{len(paths)} file(s)", args.window)
