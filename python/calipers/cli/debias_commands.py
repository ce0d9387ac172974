"""``calipers fit lcc|tweedie``: (prediction, target) pairs from the logs stream into a
:class:`RegressionSketch` (constant memory: co-moments plus at most 65536 histogram cells),
the correction is fitted from it and its JSON written (atomically, never over an input).
``calipers apply`` takes the file like a calibrator's (:func:`calipers.cli.commands.run_apply`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from .._common import jsontext
from ..debias.base import FORMAT
from ..debias.lcc import LinearCalibrationCorrection
from ..debias.sketch import RegressionSketch
from ..debias.tweedie import TweedieCorrection
from ..io.pairs import read_pairs
from ..io.readers import guarded
from ..io.records import Skipped, UnreadableFile
from .common import NothingScored, log_paths
from .outputs import check_outputs, save_fitted

__all__ = ["CORRECTIONS", "is_correction_file", "run_fit_correction"]

CORRECTIONS = ("lcc", "tweedie")


def is_correction_file(path: str) -> bool:
    """Whether ``path`` holds a correction's JSON (rather than a calibrator's)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = jsontext.loads(fh.read())
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
    check_outputs([args.output], paths)
    sketch = RegressionSketch()
    skipped = Skipped()
    for path in paths:  # file by file: an unreadable one is one line (or, --keep-going, a count)
        part, part_skipped = RegressionSketch(), Skipped()
        try:
            for pred, target in guarded(
                path,
                read_pairs(
                    [path],
                    args.prediction,
                    args.target,
                    chunk_size=args.chunk_size,
                    strict=args.strict,
                    skipped=part_skipped,
                ),
            ):
                part.update(pred, target)
        except UnreadableFile as exc:
            if not getattr(args, "keep_going", False):
                raise
            part, part_skipped = RegressionSketch(), Skipped()  # a file that fails midway adds nothing
            part_skipped.add(f"unreadable file: {exc.reason}", path)
        sketch.merge(part)
        for reason, count in part_skipped.counts.items():
            skipped.add(reason, part_skipped.first[reason], count)
    if sketch.count == 0:
        raise NothingScored(
            f"no row holds both '{args.prediction}' and '{args.target}' as finite numbers; nothing written"
        )
    correction: Any = (
        LinearCalibrationCorrection()
        if args.method == "lcc"
        else TweedieCorrection(score=args.tweedie_score, backend=args.backend)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        correction.fit_sketch(sketch)
    _report_warnings("fit", caught)
    save_fitted(args, correction.to_json(), sketch.count, skipped)
    if not args.quiet:
        _skips("fit", skipped)
    return 0
