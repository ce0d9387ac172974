"""``calipers fit lcc|tweedie`` and ``calipers apply`` with a fitted correction.

``fit`` streams (prediction, target) pairs from the logs into a :class:`RegressionSketch`
(constant memory: co-moments plus at most 65536 histogram cells), fits the correction from
it and writes the correction's JSON. ``apply`` reads a correction JSON (``"format":
"calipers.correction"``) and appends the corrected prediction to every row with a valid
prediction, writing JSONL, CSV or Parquet by the output's name.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from ..debias.base import FORMAT, Correction
from ..debias.lcc import LinearCalibrationCorrection
from ..debias.sketch import RegressionSketch
from ..debias.tweedie import TweedieCorrection
from ..io.pairs import read_pairs, read_prediction_rows
from ..io.records import Skipped
from .common import CommandError, log_paths

__all__ = ["CORRECTIONS", "is_correction_file", "run_fit_correction", "run_apply_correction"]

CORRECTIONS = ("lcc", "tweedie")


def is_correction_file(path: str) -> bool:
    """Whether ``path`` holds a correction's JSON (rather than a calibrator's)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def _report_warnings(command: str, caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        print(f"calipers {command}: warning: {w.message}", file=sys.stderr)


def _skips(command: str, skipped: Skipped) -> None:
    for reason, count in skipped.counts.items():
        print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})", file=sys.stderr)


def run_fit_correction(args: argparse.Namespace) -> int:
    """Fit LCC or Tweedie's correction from (prediction, target) columns of the logs."""
    paths = log_paths(args, "fit")
    sketch = RegressionSketch()
    skipped = Skipped()
    for pred, target in read_pairs(
        paths, args.prediction, args.target, chunk_size=args.chunk_size, strict=args.strict, skipped=skipped
    ):
        sketch.update(pred, target)
    if sketch.count == 0:
        raise CommandError(f"no row holds both '{args.prediction}' and '{args.target}' as finite numbers")
    correction: Any = (
        LinearCalibrationCorrection() if args.method == "lcc" else TweedieCorrection(score=args.tweedie_score)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        correction.fit_sketch(sketch)
    _report_warnings("fit", caught)
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(correction.to_json() + "\n")
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    if not args.quiet:
        print(
            f"calipers fit: {args.method} fitted on {sketch.count:,} rows"
            + (f" ({skipped.total:,} skipped)" if skipped.total else "")
            + f", written to {args.output}",
            file=sys.stderr,
        )
        _skips("fit", skipped)
    return 0


def run_apply_correction(args: argparse.Namespace) -> int:
    """Append corrected predictions to the logs' rows."""
    from ..io.writers import RowWriter

    paths = log_paths(args, "apply")
    try:
        with open(args.calibrator, encoding="utf-8") as fh:
            correction = Correction.from_json(fh.read())
    except OSError as exc:
        raise CommandError(f"cannot read {args.calibrator}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CommandError(f"{args.calibrator}: {exc}") from exc
    if not correction.is_fitted:
        raise CommandError(f"{args.calibrator} holds an unfitted correction")
    skipped = Skipped()
    written = 0
    try:
        out = RowWriter(args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    caught: list[warnings.WarningMessage] = []
    with out:
        for rows, pred in read_prediction_rows(
            paths, args.prediction, chunk_size=args.chunk_size, strict=args.strict, skipped=skipped
        ):
            with warnings.catch_warnings(record=True) as chunk_warnings:
                warnings.simplefilter("always")
                corrected = correction.transform(pred)
            caught.extend(chunk_warnings[: max(0, 5 - len(caught))])
            for rec, value in zip(rows, corrected.tolist()):
                rec[args.column] = value
            out.write(rows)
            written += len(rows)
    _report_warnings("apply", caught)
    if not args.quiet:
        print(
            f"calipers apply: {written:,} rows written to {args.output}"
            + (f", {skipped.total:,} skipped" if skipped.total else ""),
            file=sys.stderr,
        )
        _skips("apply", skipped)
    return 0
