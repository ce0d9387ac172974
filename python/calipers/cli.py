"""The ``calipers`` command line: ``calipers score LOG...`` streams a prediction log into a
ReliabilitySketch and prints the reliability table and metrics (``--json`` for machines)."""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import __version__
from ._backend import show_config
from .io import (Columns, MalformedRow, Skipped, parquet_scores_ok, read_record_chunks, read_score_batches,
                 read_table_chunks)
from .grouped import GroupedSketch
from .sketch import ReliabilitySketch, merge_all


class _Progress:
    """rows, rows/s, bytes and an ETA on stderr (only on a terminal, never with --quiet)."""

    def __init__(self, enabled: bool, total_bytes: int) -> None:
        self.enabled, self.total = enabled, total_bytes
        self.start = time.perf_counter()
        self.finished = 0  # bytes of the files read to the end
        self.done_bytes = 0

    def file_done(self, size: int) -> None:
        self.finished += size
        self.done_bytes = self.finished

    def within_file(self, position: int) -> None:
        self.done_bytes = self.finished + position

    def __call__(self, rows: int, done: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        text = f"\r{rows:,} rows  {rows / elapsed:,.0f} rows/s  {self.done_bytes / 1e6:,.1f}/{self.total / 1e6:,.1f} MB"
        if 0 < self.done_bytes < self.total:
            text += f"  ETA {elapsed * (self.total - self.done_bytes) / self.done_bytes:,.0f} s"
        sys.stderr.write(text + ("\n" if done else ""))
        sys.stderr.flush()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '1.5d', '2w' -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 30s, 15m, 1h, 1d, 1w")
    return float(m.group(1)) * _UNITS[m.group(2)]


class CommandError(Exception):
    """A failure the user can act on: ``main`` prints it after 'calipers COMMAND:' and exits 2.
    Malformed rows (--strict) exit 1 and invalid values exit 2 the same way."""


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else value


def _json_safe(obj: Any) -> Any:
    """NaN (an empty bin, an undefined metric) becomes null: JSON has no NaN."""
    if isinstance(obj, float):
        return _clean(obj)
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def _log_paths(args: argparse.Namespace, command: str) -> list[str]:
    paths = []
    for pattern in map(str, args.logs):
        if any(ch in pattern for ch in "*?["):
            matched = sorted(glob.glob(pattern, recursive=True))
            if not matched:
                raise CommandError(f"no file matches {pattern}")
            paths.extend(matched)
        else:
            paths.append(pattern)
    if getattr(args, "sample", False):
        from . import sample_log_path

        paths.append(sample_log_path())
    if not paths:
        raise CommandError("give at least one LOG file" + (" (or --sample)" if command == "score" else ""))
    for path in paths:
        if not os.path.exists(path):
            raise CommandError(f"no such file: {path}")
    return paths


@dataclass
class _Scored:
    """One log's (or many merged logs') sketches: overall, per group, and per window
    (keyed by the window's index: its start is index * window)."""

    sketch: ReliabilitySketch
    rows: int
    skipped: Skipped
    groups: GroupedSketch = field(default_factory=GroupedSketch)
    windows: GroupedSketch = field(default_factory=GroupedSketch)


def _columns(args: argparse.Namespace) -> Columns:
    prob_columns = [c.strip() for c in args.prob_columns.split(",")] if getattr(args, "prob_columns", None) else None
    return Columns(score=args.score, label=args.label, probs=args.probs, prob_columns=prob_columns,
                   group=getattr(args, "by", None), time=getattr(args, "time", None))


@dataclass(frozen=True)
class _Plan:
    """What to read and how to keep it: picklable, so dask workers run the same code."""

    cols: Columns
    bins: int
    backend: str
    chunk_size: int
    strict: bool
    window: float | None
    replicates: int = 0


def _plan(args: argparse.Namespace) -> _Plan:
    return _Plan(_columns(args), args.bins, args.backend, args.chunk_size, args.strict, getattr(args, "window", None),
                 getattr(args, "bootstrap", 0) or 0)


def _score_file(path: str, plan: _Plan, on_rows: Any = None, on_bytes: Any = None) -> _Scored:
    """One log file into sketches: overall, per group (--by) and per window (--time/--window)."""
    out = _Scored(ReliabilitySketch(bins=plan.bins, backend=plan.backend, replicates=plan.replicates), 0, Skipped(),
                  GroupedSketch(plan.bins, backend=plan.backend), GroupedSketch(plan.bins, backend=plan.backend))
    for chunk in read_table_chunks([path], plan.cols, chunk_size=plan.chunk_size, strict=plan.strict,
                                   skipped=out.skipped, on_bytes=on_bytes):
        out.sketch.update(chunk.scores, chunk.labels)
        if chunk.groups is not None:
            out.groups.update(chunk.scores, chunk.labels, np.asarray(chunk.groups))
        if plan.window and chunk.times is not None:
            out.windows.update(chunk.scores, chunk.labels, np.floor(chunk.times / plan.window).astype(np.int64))
        out.rows += len(chunk.labels)
        if on_rows is not None:
            on_rows(len(chunk.labels))
    return out


def _merge_scored(parts: Sequence[_Scored]) -> _Scored:
    """Merge per-file results in order (so each reason's first file:line stays the first)."""
    out = _Scored(merge_all([p.sketch for p in parts]), sum(p.rows for p in parts), Skipped(),
                  parts[0].groups.copy(), parts[0].windows.copy())
    for i, part in enumerate(parts):
        for reason, count in part.skipped.counts.items():
            out.skipped.add(reason, part.skipped.first[reason], count)
        if i:
            out.groups.merge(part.groups)
            out.windows.merge(part.windows)
    return out


def _stream_sketch(args: argparse.Namespace, paths: list[str]) -> _Scored:
    """Read the logs into sketches (overall, per group, per window) in this process."""
    plan = _plan(args)
    sizes = [os.path.getsize(p) for p in paths]
    report = _Progress(not args.quiet and not getattr(args, "json", False) and sys.stderr.isatty(), sum(sizes))
    rows = [0]

    def on_rows(n: int) -> None:
        rows[0] += n
        report(rows[0])

    parts = []
    for path, size in zip(paths, sizes):
        parts.append(_score_file(path, plan, on_rows, report.within_file))
        report.file_done(size)
    report(rows[0], done=True)
    return _merge_scored(parts)


def _summary(sketch: ReliabilitySketch) -> dict[str, Any]:
    m = sketch.metrics()
    return {"rows": sketch.count, "metrics": {k: _clean(v) for k, v in m.items()}}


def _window_label(start: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(start, tz=timezone.utc).isoformat()


def _report(scored: _Scored, binning: str, as_json: bool, source: str, window: float | None = None) -> int:
    """Print the reliability table and metrics (or one JSON object), per group and window too."""
    sketch, rows, skipped = scored.sketch, scored.rows, scored.skipped
    metrics: dict[str, Any] = {k: _clean(v) for k, v in sketch.metrics().items()}
    if binning == "mass":
        metrics["ece"] = metrics["ece_mass"]
    if len(scored.groups):
        metrics["pce"] = _clean(scored.groups.pce())
    if sketch.replicates and sketch.count:
        ci = sketch.ece_interval()
        metrics["ece_width_interval_95"] = [_clean(ci.low), _clean(ci.high)]
    table = sketch.reliability(binning=binning)
    groups = {key: _summary(s) for key, s in scored.groups.items()}
    windows = [{"start": _window_label(index * window), **_summary(s)} for index, s in scored.windows.items()]
    if as_json:
        out: dict[str, Any] = {"rows": rows, "skipped": skipped.counts, "skipped_first": skipped.first,
                               "bins": sketch.bins, "binning": binning, "metrics": metrics,
                               "reliability": table.to_dict(), "groups": groups, "windows": windows}
        print(json.dumps(_json_safe(out), indent=2, allow_nan=False))
        return 0
    print(f"calipers: {rows:,} rows from {source}" + (f", {skipped.total:,} skipped" if skipped.total else ""))
    for reason, count in skipped.counts.items():
        print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})")
    print()
    print(table.to_string())
    print()
    names = {"ece": f"ECE ({binning}, l1)", "ece_l2": "RMS calibration error", "mce": "MCE (max gap)",
             "ece_l2_debiased": "debiased RMS CE", "ece_mass": "ECE (equal-mass)", "brier": "Brier score",
             "smooth_ece": "smooth ECE", "brier_skill_score": "Brier skill score", "log_loss": "log loss",
             "pce": "PCE across groups"}
    for key, label in names.items():
        if key in metrics:
            value = metrics[key]
            print(f"{label:>24s}: {'n/a' if value is None else f'{value:.6f}'}")
    if "ece_width_interval_95" in metrics:
        lo, hi = metrics["ece_width_interval_95"]
        print(f"{'ECE (width) 95% interval':>24s}: [{_fmt(lo)}, {_fmt(hi)}] ({sketch.replicates} Poisson bootstrap replicates)")
    for title, items in (("group", list(groups.items())), ("window start", [(w["start"], w) for w in windows])):
        if items:
            print(f"\n{title:>26s} {'rows':>10s} {'ECE':>9s} {'Brier':>9s}")
            for key, entry in items:
                ece, brier = entry["metrics"]["ece"], entry["metrics"]["brier"]
                print(f"{str(key)[:26]:>26s} {entry['rows']:>10,} {_fmt(ece):>9s} {_fmt(brier):>9s}")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _dask_client(spec: str) -> Any:
    from distributed import Client, LocalCluster

    if spec.startswith("local:"):
        workers = int(spec.split(":", 1)[1])
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    return Client(spec)


def _score_dask(args: argparse.Namespace, paths: list[str]) -> _Scored:
    """Files spread across dask workers; their sketches (overall, per group, per window)
    merged in a tree on the cluster."""
    import functools

    from .dask import tree_merge

    read = functools.partial(_score_file, plan=_plan(args))
    try:
        client = _dask_client(args.dask)
    except (ValueError, OSError) as exc:
        raise CommandError(f"cannot start or reach dask at {args.dask!r}: {exc}") from exc
    import dask

    try:
        parts = [dask.delayed(read, pure=False)(p) for p in paths]
        merged: _Scored = client.compute(tree_merge(parts, merge=_merge_scored)).result()
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and args.dask.startswith("local:"):
            cluster.close()
    return merged


def _score(args: argparse.Namespace) -> int:
    paths = _log_paths(args, "score")
    result = _score_dask(args, paths) if args.dask else _stream_sketch(args, paths)
    sketch, rows, skipped = result.sketch, result.rows, result.skipped
    if args.save_sketch:
        with open(args.save_sketch, "wb") as fh:
            fh.write(sketch.to_bytes())
    if args.report:
        from .report import write_report

        try:
            page = write_report(args.report, sketch, rows=rows, skipped=skipped.counts,
                                skipped_first=skipped.first, binning=args.binning, groups=dict(result.groups.items()),
                                windows={_window_label(i * args.window): v for i, v in result.windows.items()})
        except ImportError as exc:
            raise CommandError(f"--report needs matplotlib ({exc})") from exc
        if not args.quiet:
            print(f"calipers score: report written to {page}", file=sys.stderr)
    return _report(result, args.binning, args.json, f"{len(paths)} file(s)", args.window)


def _merge(args: argparse.Namespace) -> int:
    """Combine sketches saved by ``calipers score --save-sketch`` on many machines."""
    sketches = []
    for path in args.sketches:
        try:
            with open(path, "rb") as fh:
                sketches.append(ReliabilitySketch.from_bytes(fh.read()))
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from exc
    merged = merge_all(sketches)
    if args.output:
        with open(args.output, "wb") as fh:
            fh.write(merged.to_bytes())
    return _report(_Scored(merged, merged.count, Skipped()), args.binning, args.json, f"{len(sketches)} sketch(es)")


def _fit(args: argparse.Namespace) -> int:
    """Stream logs into a sketch and fit a calibrator from it (O(bins) memory)."""
    paths = _log_paths(args, "fit")
    result = _stream_sketch(args, paths)
    sketch, rows, skipped = result.sketch, result.rows, result.skipped
    params = {"bins": args.calibrator_bins} if args.method in ("histogram", "scaling-binning") else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        calibrator = sketch.calibrator(args.method, **params)
    for w in caught:
        print(f"calipers fit: warning: {w.message}", file=sys.stderr)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(calibrator.to_json() + "\n")
    if not args.quiet:
        print(f"calipers fit: {args.method} fitted on {rows:,} rows"
              + (f" ({skipped.total:,} skipped)" if skipped.total else "") + f", written to {args.output}",
              file=sys.stderr)
    return 0


def _apply(args: argparse.Namespace) -> int:
    """Append a calibrated column to every scorable row of the logs (JSONL, CSV or Parquet
    out, by the name of --output)."""
    from ._writers import RowWriter
    from .calibrators import Calibrator

    paths = _log_paths(args, "apply")
    try:
        with open(args.calibrator, encoding="utf-8") as fh:
            calibrator = Calibrator.from_json(fh.read())
    except OSError as exc:
        raise CommandError(f"cannot read {args.calibrator}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CommandError(f"{args.calibrator}: {exc}") from exc
    if not calibrator.is_fitted:
        raise CommandError(f"{args.calibrator} holds an unfitted calibrator")
    cols = _columns(args)
    skipped = Skipped()
    written = 0
    try:
        out = RowWriter(args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    with out:
        for path in paths:  # in order, so each reason's first file:line is the first in the logs
            if parquet_scores_ok(path, cols):  # columnar: no per-row Python
                for batch, scores in read_score_batches(path, cols, chunk_size=args.chunk_size, strict=args.strict,
                                                        skipped=skipped):
                    out.write_batch(batch, args.column, np.asarray(calibrator.transform(scores), np.float64))
                    written += batch.num_rows
                continue
            for records, scores in read_record_chunks([path], cols, chunk_size=args.chunk_size, strict=args.strict,
                                                      skipped=skipped):
                calibrated = np.asarray(calibrator.transform(scores))
                for rec, value in zip(records, calibrated.tolist()):
                    rec[args.column] = value
                out.write(records)
                written += len(records)
    if not args.quiet:
        print(f"calipers apply: {written:,} rows written to {args.output}"
              + (f", {skipped.total:,} skipped" if skipped.total else ""), file=sys.stderr)
        for reason, count in skipped.counts.items():
            print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})", file=sys.stderr)
    return 0


def _add_columns(p: argparse.ArgumentParser, *, label_required: bool = True) -> None:
    p.add_argument("--score", default="score", help="column holding the score in [0, 1] (default: score)")
    p.add_argument("--label", default="label", help="column holding the 0/1 outcome or class label"
                   + ("" if label_required else " (not needed)"))
    p.add_argument("--probs", default=None, help="column holding a probability vector (top-label)")
    p.add_argument("--prob-columns", default=None, metavar="C1,C2,...",
                   help="K columns holding the class probabilities (top-label)")
    p.add_argument("--chunk-size", type=int, default=65536, help="rows per chunk")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed row")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--backend", default="auto", choices=("auto", "cpp", "numba", "numpy"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calipers", description="Measure the calibration of model confidences.")
    parser.add_argument("--version", action="store_true", help="print the version and the live backends")
    sub = parser.add_subparsers(dest="command")
    score = sub.add_parser("score", help="score prediction logs (JSONL, CSV/TSV, optionally .gz, or Parquet)")
    score.add_argument("logs", nargs="*", help="log files")
    score.add_argument("--sample", action="store_true", help="also score the sample log shipped with calipers")
    _add_columns(score)
    score.add_argument("--bins", type=int, default=15, help="number of bins (default 15)")
    score.add_argument("--binning", choices=("width", "mass"), default="width")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.add_argument("--bootstrap", type=int, default=0, metavar="R",
                       help="keep R streaming bootstrap replicates and report a 95%% interval of the ECE")
    score.add_argument("--save-sketch", default=None, metavar="FILE", help="write the sketch bytes to FILE")
    score.add_argument("--by", default=None, metavar="COL", help="one sketch per value of COL, with the PCE across them")
    score.add_argument("--time", default=None, metavar="COL", help="timestamp column (epoch seconds or ISO 8601)")
    score.add_argument("--window", default=None, type=parse_duration, metavar="DURATION",
                       help="with --time: metrics per window (30s, 15m, 1h, 1d, 1w) to watch drift")
    score.add_argument("--dask", default=None, metavar="ADDRESS",
                       help="spread the files over a dask cluster: a scheduler address or local:N workers")
    score.add_argument("--report", default=None, metavar="DIR",
                       help="write reliability.png and a self-contained index.html into DIR")

    merge = sub.add_parser("merge", help="merge sketches saved with --save-sketch and report")
    merge.add_argument("sketches", nargs="+", help="sketch files")
    merge.add_argument("-o", "--output", default=None, help="write the merged sketch to this file")
    merge.add_argument("--binning", choices=("width", "mass"), default="width")
    merge.add_argument("--json", action="store_true", help="print one JSON object")

    fit = sub.add_parser("fit", help="fit a calibrator on logs (through a sketch: constant memory)")
    fit.add_argument("method", choices=("platt", "beta", "isotonic", "histogram", "scaling-binning"))
    fit.add_argument("logs", nargs="+", help="log files")
    fit.add_argument("-o", "--output", required=True, help="calibrator JSON file to write")
    _add_columns(fit)
    fit.add_argument("--bins", type=int, default=15, help="equal-width bins of the sketch (default 15)")
    fit.add_argument("--calibrator-bins", type=int, default=15,
                     help="equal-mass bins of histogram / scaling-binning (default 15)")

    apply = sub.add_parser("apply", help="append calibrated scores to logs (JSONL, CSV or Parquet output)")
    apply.add_argument("calibrator", help="calibrator JSON written by calipers fit (or to_json)")
    apply.add_argument("logs", nargs="+", help="log files")
    apply.add_argument("-o", "--output", required=True,
                       help="file to write: .jsonl, .csv (optionally .gz) or .parquet")
    apply.add_argument("--column", default="calibrated", help="name of the appended column")
    _add_columns(apply, label_required=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"calipers {__version__}")
        show_config()
        return 0
    if getattr(args, "probs", None) is not None and args.score != "score":
        parser.error("--probs and --score are mutually exclusive")
    if getattr(args, "probs", None) is not None and getattr(args, "prob_columns", None):
        parser.error("--probs and --prob-columns are mutually exclusive")
    if args.command == "score":
        if (args.window is None) != (args.time is None):
            parser.error("--window and --time go together")
    commands = {"score": _score, "merge": _merge, "fit": _fit, "apply": _apply}
    if args.command in commands:
        try:
            return commands[args.command](args)
        except MalformedRow as exc:
            print(f"calipers {args.command}: malformed row at {exc}", file=sys.stderr)
            return 1
        except (CommandError, ValueError) as exc:  # invalid input: a message, never a traceback
            print(f"calipers {args.command}: {exc}", file=sys.stderr)
            return 2
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
