"""The ``calipers`` command line: ``calipers score LOG...`` streams a prediction log into a
ReliabilitySketch and prints the reliability table and metrics (``--json`` for machines)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Sequence

from . import __version__
from ._backend import show_config
from .io import Columns, MalformedRow, Skipped, read_chunks
from .sketch import ReliabilitySketch


def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    start = time.perf_counter()

    def report(rows: int, done: bool = False) -> None:
        if not enabled:
            return
        rate = rows / max(time.perf_counter() - start, 1e-9)
        sys.stderr.write(f"\r{rows:,} rows  {rate:,.0f} rows/s" + ("\n" if done else ""))
        sys.stderr.flush()

    return report


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


def _score(args: argparse.Namespace) -> int:
    paths = [str(p) for p in args.logs]
    if args.sample:
        from . import sample_log_path

        paths.append(sample_log_path())
    if not paths:
        print("calipers score: give at least one LOG file (or --sample)", file=sys.stderr)
        return 2
    for path in paths:
        if not os.path.exists(path):
            print(f"calipers score: no such file: {path}", file=sys.stderr)
            return 2
    cols = Columns(score=args.score, label=args.label, probs=args.probs)
    sketch = ReliabilitySketch(bins=args.bins, backend=args.backend)
    skipped = Skipped()
    report = _progress(not args.quiet and not args.json and sys.stderr.isatty())
    rows = 0
    try:
        for scores, labels in read_chunks(paths, cols, chunk_size=args.chunk_size, strict=args.strict,
                                          skipped=skipped):
            sketch.update(scores, labels)
            rows += len(labels)
            report(rows)
    except MalformedRow as exc:
        print(f"calipers score: malformed row at {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"calipers score: {exc}", file=sys.stderr)
        return 2
    report(rows, done=True)
    metrics = {k: _clean(v) for k, v in sketch.metrics().items()}
    if args.binning == "mass":
        metrics["ece"] = metrics["ece_mass"]
    table = sketch.reliability(binning=args.binning)
    if args.save_sketch:
        with open(args.save_sketch, "wb") as fh:
            fh.write(sketch.to_bytes())
    if args.json:
        out: dict[str, Any] = {"rows": rows, "skipped": skipped.counts, "skipped_first": skipped.first,
                               "bins": args.bins, "binning": args.binning, "metrics": metrics,
                               "reliability": table.to_dict(), "groups": {}, "windows": []}
        print(json.dumps(_json_safe(out), indent=2, allow_nan=False))
        return 0
    print(f"calipers score: {rows:,} rows from {len(paths)} file(s)"
          + (f", {skipped.total:,} skipped" if skipped.total else ""))
    for reason, count in skipped.counts.items():
        print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})")
    print()
    print(table.to_string())
    print()
    names = {"ece": f"ECE ({args.binning}, l1)", "ece_l2": "RMS calibration error", "mce": "MCE (max gap)",
             "ece_l2_debiased": "debiased RMS CE", "ece_mass": "ECE (equal-mass)", "brier": "Brier score",
             "brier_skill_score": "Brier skill score", "log_loss": "log loss"}
    for key, label in names.items():
        value = metrics[key]
        print(f"{label:>24s}: {'n/a' if value is None else f'{value:.6f}'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calipers", description="Measure the calibration of model confidences.")
    parser.add_argument("--version", action="store_true", help="print the version and the live backends")
    sub = parser.add_subparsers(dest="command")
    score = sub.add_parser("score", help="score prediction logs (JSONL or CSV, optionally .gz)")
    score.add_argument("logs", nargs="*", help="log files")
    score.add_argument("--sample", action="store_true", help="also score the sample log shipped with calipers")
    score.add_argument("--score", default="score", help="column holding the score in [0, 1] (default: score)")
    score.add_argument("--label", default="label", help="column holding the 0/1 outcome or class label")
    score.add_argument("--probs", default=None, help="column holding a probability vector (top-label scoring)")
    score.add_argument("--bins", type=int, default=15, help="number of bins (default 15)")
    score.add_argument("--binning", choices=("width", "mass"), default="width")
    score.add_argument("--chunk-size", type=int, default=65536, help="rows per chunk")
    score.add_argument("--strict", action="store_true", help="stop at the first malformed row")
    score.add_argument("--quiet", action="store_true", help="no progress on stderr")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.add_argument("--save-sketch", default=None, metavar="FILE", help="write the sketch bytes to FILE")
    score.add_argument("--backend", default="auto", choices=("auto", "cpp", "numba", "numpy"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"calipers {__version__}")
        show_config()
        return 0
    if args.command == "score":
        if args.probs is not None and args.score != "score":
            parser.error("--probs and --score are mutually exclusive")
        return _score(args)
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
