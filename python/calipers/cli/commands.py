"""``calipers merge``, ``calipers fit`` and ``calipers apply``."""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from ..io.parquet import parquet_scores_ok, read_score_batches
from ..io.records import Skipped
from ..io.rows import read_record_chunks
from ..monitor.blobs import load_sketch_bytes
from ..streaming.sketch import merge_all
from .common import CommandError, columns, log_paths
from .output import print_report
from .score import stream_sketch
from .scored import Scored


def run_merge(args: argparse.Namespace) -> int:
    """Combine sketches saved by ``calipers score --save-sketch`` on many machines."""
    sketches = []
    for path in args.sketches:
        try:
            with open(path, "rb") as fh:
                sketches.append(load_sketch_bytes(fh.read()))  # sketch or CalibrationMonitor bytes
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from exc
    merged = merge_all(sketches)
    if args.output:
        with open(args.output, "wb") as fh:
            fh.write(merged.to_bytes())
    return print_report(Scored(merged, merged.count, Skipped()), args.binning, args.json, f"{len(sketches)} sketch(es)")


def run_fit(args: argparse.Namespace) -> int:
    """Stream logs into a sketch and fit a calibrator from it (O(bins) memory)."""
    paths = log_paths(args, "fit")
    result = stream_sketch(args, paths)
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
        print(
            f"calipers fit: {args.method} fitted on {rows:,} rows"
            + (f" ({skipped.total:,} skipped)" if skipped.total else "")
            + f", written to {args.output}",
            file=sys.stderr,
        )
    return 0


def run_apply(args: argparse.Namespace) -> int:
    """Append a calibrated column to every scorable row of the logs (JSONL, CSV or Parquet
    out, by the name of --output)."""
    from ..calibration.base import Calibrator
    from ..io.writers import RowWriter

    paths = log_paths(args, "apply")
    try:
        with open(args.calibrator, encoding="utf-8") as fh:
            calibrator = Calibrator.from_json(fh.read())
    except OSError as exc:
        raise CommandError(f"cannot read {args.calibrator}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CommandError(f"{args.calibrator}: {exc}") from exc
    if not calibrator.is_fitted:
        raise CommandError(f"{args.calibrator} holds an unfitted calibrator")
    cols = columns(args)
    skipped = Skipped()
    written = 0
    try:
        out = RowWriter(args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    with out:
        for path in paths:  # in order, so each reason's first file:line is the first in the logs
            if parquet_scores_ok(path, cols):  # columnar: no per-row Python
                for batch, scores in read_score_batches(
                    path, cols, chunk_size=args.chunk_size, strict=args.strict, skipped=skipped
                ):
                    out.write_batch(batch, args.column, np.asarray(calibrator.transform(scores), np.float64))
                    written += batch.num_rows
                continue
            for records, scores in read_record_chunks(
                [path], cols, chunk_size=args.chunk_size, strict=args.strict, skipped=skipped
            ):
                calibrated = np.asarray(calibrator.transform(scores))
                for rec, value in zip(records, calibrated.tolist()):
                    rec[args.column] = value
                out.write(records)
                written += len(records)
    if not args.quiet:
        print(
            f"calipers apply: {written:,} rows written to {args.output}"
            + (f", {skipped.total:,} skipped" if skipped.total else ""),
            file=sys.stderr,
        )
        for reason, count in skipped.counts.items():
            print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})", file=sys.stderr)
    return 0
