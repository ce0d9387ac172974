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
from ..io.records import Columns, Skipped, UnreadableFile
from ..streaming.sketch import ReliabilitySketch
from .common import CommandError, NothingScored, Progress, columns, log_paths
from .output import print_report, window_label
from .outputs import check_outputs, save
from .saved import dump_saved
from .scored import GROUP_GRID, MAX_GROUPS, Scored, grouped, merge_scored


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
    keep_going: bool = False
    max_groups: int = MAX_GROUPS
    group_grid: str = GROUP_GRID


def plan_of(args: argparse.Namespace) -> Plan:
    """The reading plan of parsed arguments."""
    return Plan(
        columns(args),
        args.bins,
        args.backend,
        args.chunk_size,
        args.strict,
        getattr(args, "window", None),
        getattr(args, "bootstrap", 0) or 0,
        getattr(args, "keep_going", False),
        getattr(args, "max_groups", MAX_GROUPS),
        getattr(args, "group_grid", GROUP_GRID),
    )


def check_group_count(scored: Scored, plan: Plan) -> None:
    """CommandError once the groups (--by) or windows (--window) outnumber --max-groups: a
    key column with one value per row (an id, a typo'd column) would otherwise cost ~3.7 ms
    and ~20 KB per group (measured at 20,000 groups), most of it each group's smooth ECE."""
    for what, sketch, flag in (
        ("groups", scored.groups, f"--by {plan.cols.group!r}"),
        ("windows", scored.windows, "--window"),
    ):
        if len(sketch) > plan.max_groups:
            raise CommandError(
                f"{flag} gives more than {plan.max_groups:,} {what} (--max-groups {plan.max_groups}): check the "
                "column, or raise --max-groups (each costs ~4 ms and ~20 KB in the report)"
            )


def empty_scored(plan: Plan) -> Scored:
    """Sketches with nothing in them, shaped by the plan."""
    return Scored(
        ReliabilitySketch(bins=plan.bins, backend=plan.backend, replicates=plan.replicates),
        0,
        Skipped(),
        grouped(plan.bins, backend=plan.backend, grid=plan.group_grid),
        grouped(plan.bins, backend=plan.backend, grid=plan.group_grid),
    )


def score_or_skip(path: str, plan: Plan, on_rows: Any = None, on_bytes: Any = None) -> Scored:
    """:func:`score_file`, or with ``plan.keep_going`` an unreadable file as nothing scored
    and one count of 'unreadable file: REASON' (first at the file)."""
    try:
        return score_file(path, plan, on_rows, on_bytes)
    except UnreadableFile as exc:
        if not plan.keep_going:
            raise
        out = empty_scored(plan)
        out.skipped.add(f"unreadable file: {exc.reason}", path)
        return out


def score_file(path: str, plan: Plan, on_rows: Any = None, on_bytes: Any = None) -> Scored:
    """One log file into sketches: overall, per group (--by) and per window (--time/--window).
    A file that fails midway contributes nothing (UnreadableFile is raised)."""
    out = empty_scored(plan)
    for chunk in read_table_chunks(
        [path], plan.cols, chunk_size=plan.chunk_size, strict=plan.strict, skipped=out.skipped, on_bytes=on_bytes
    ):
        out.sketch.update(chunk.scores, chunk.labels)
        if chunk.groups is not None:
            out.groups.update(chunk.scores, chunk.labels, np.asarray(chunk.groups))
        if plan.window and chunk.times is not None:
            out.windows.update(chunk.scores, chunk.labels, np.floor(chunk.times / plan.window).astype(np.int64))
        check_group_count(out, plan)
        out.rows += len(chunk.labels)
        if on_rows is not None:
            on_rows(len(chunk.labels))
    return out


def stream_sketch(args: argparse.Namespace, paths: list[str]) -> Scored:
    """Read the logs into sketches (overall, per group, per window) in this process."""
    plan = plan_of(args)
    sizes = [os.path.getsize(p) if os.path.isfile(p) else 0 for p in paths]
    report = Progress(not args.quiet and not getattr(args, "json", False) and sys.stderr.isatty(), sum(sizes))
    rows = [0]

    def on_rows(n: int) -> None:
        rows[0] += n
        report(rows[0])

    parts = []
    for path, size in zip(paths, sizes):
        parts.append(score_or_skip(path, plan, on_rows, report.within_file))
        report.file_done(size)
    report(rows[0], done=True)
    return merge_scored(parts)


def dask_client(spec: str) -> Any:
    """A dask client for ``local:N`` (a local cluster of N worker processes) or an address."""
    from distributed import Client, LocalCluster

    if spec.startswith("local:"):
        workers = int(spec.split(":", 1)[1])
        if workers < 1:
            raise ValueError(f"local:N needs N >= 1 workers, got {workers}")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    return Client(spec)


def score_dask(args: argparse.Namespace, paths: list[str]) -> Scored:
    """Files spread across dask workers; their sketches (overall, per group, per window)
    merged in a tree on the cluster."""
    import functools

    from ..dask import tree_merge

    read = functools.partial(score_or_skip, plan=plan_of(args))
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


def nothing_scored(skipped: Skipped) -> str:
    """Why a run scored no row, in one line."""
    if not skipped.total:
        return "no rows scored: the logs hold no data rows"
    reasons = sorted(skipped.counts.items(), key=lambda item: -item[1])
    shown = "; ".join(f"{count:,} x {reason} (first at {skipped.first[reason]})" for reason, count in reasons[:3])
    more = f"; {len(reasons) - 3} more reason(s)" if len(reasons) > 3 else ""
    return f"no rows scored: every row or file was skipped ({shown}{more}); check the column options and the logs"


def run_score(args: argparse.Namespace) -> int:
    """``calipers score``: check the outputs, read the logs into sketches, save, report."""
    paths = log_paths(args, "score")
    check_outputs([args.save_sketch], paths, report=args.report)
    try:
        result = score_dask(args, paths) if args.dask else stream_sketch(args, paths)
    except UnreadableFile as exc:
        raise CommandError(f"{exc}; --keep-going skips such files") from None
    check_group_count(result, plan_of(args))  # across files too
    sketch, rows, skipped = result.sketch, result.rows, result.skipped
    if rows == 0:
        if args.json:
            print_report(result, args.binning, True, f"{len(paths)} file(s)", args.window)
        raise NothingScored(nothing_scored(skipped))
    if args.save_sketch:
        result.by, result.time = args.by, args.time
        save(args.save_sketch, dump_saved(result, args.window))
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
                warn=None if args.quiet else lambda line: print(f"calipers score: warning: {line}", file=sys.stderr),
            )
        except ImportError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot write {args.report}: {exc.strerror or exc}") from None
        if not args.quiet:
            print(f"calipers score: report written to {page}", file=sys.stderr)
    return print_report(result, args.binning, args.json, f"{len(paths)} file(s)", args.window)
