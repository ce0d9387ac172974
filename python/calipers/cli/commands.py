"""``calipers merge``, ``calipers fit`` and ``calipers apply``."""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .._kernels import backend as _backend
from ..io.parquet import check_parquet_types, parquet_scores_ok, read_scored_batches
from ..io.readers import file_format, guarded, unreadable_reason
from ..io.records import Skipped, UnreadableFile
from ..io.rows import header_columns, score_rows
from .common import CommandError, NothingScored, columns, distinct_inputs, log_paths
from .output import print_report
from .outputs import check_outputs, save, save_fitted
from .saved import dump_saved, load_saved
from .score import nothing_scored, stream_sketch
from .scored import Scored, merge_scored

T = TypeVar("T")


def _read_saved(path: str) -> tuple[Scored, float | None]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return load_saved(data)
    except ValueError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None


def _same_parts(parts: list[tuple[str, Scored]], what: str) -> None:
    """Files with rows must all have groups (or windows), or none: a merge of some with and
    some without would hold groups for part of the rows only."""
    having = [(path, len(getattr(s, what)) > 0) for path, s in parts if s.rows]
    if len({has for _, has in having}) > 1:
        with_ = next(p for p, has in having if has)
        without = next(p for p, has in having if not has)
        flag = "--by" if what == "groups" else "--time/--window"
        raise CommandError(
            f"cannot merge {with_} (saved with {flag}) and {without} (saved without): their {what} would "
            "cover part of the rows only"
        )


def _same_column(parts: list[tuple[str, Scored]], what: str, name: str) -> str | None:
    """The --by (or --time) column shared by the files holding groups (or windows): two
    known names that differ are refused; a file saved before the names were recorded
    (unknown: None) matches any. Returns the known name, or None."""
    known: dict[str, str] = {}
    for path, s in parts:
        column = getattr(s, name)
        if len(getattr(s, what)) and column is not None:
            known.setdefault(column, path)
    if len(known) > 1:
        (a, pa), (b, pb) = list(known.items())[:2]
        raise CommandError(
            f"cannot merge {what} of --{name} {a!r} ({pa}) and of --{name} {b!r} ({pb}): "
            f"they are keyed by different columns"
        )
    return next(iter(known), None)


def run_merge(args: argparse.Namespace) -> int:
    """Combine what ``calipers score --save-sketch`` saved on many machines (overall, groups,
    windows and skip counts; plain sketch files too), report, and save with -o."""
    check_outputs([args.output], args.sketches)
    distinct_inputs(args.sketches, "sketch")
    parts: list[tuple[str, Scored]] = []
    windows: dict[float, str] = {}
    for path in args.sketches:
        scored, window = _read_saved(path)
        parts.append((path, scored))
        if window is not None and len(scored.windows):
            windows.setdefault(window, path)
    if len(windows) > 1:
        (a, pa), (b, pb) = list(windows.items())[:2]
        raise CommandError(f"cannot merge windows of {a:g} s ({pa}) and of {b:g} s ({pb})")
    _same_parts(parts, "groups")
    _same_parts(parts, "windows")
    by = _same_column(parts, "groups", "by")
    time = _same_column(parts, "windows", "time")
    try:
        merged = merge_scored([s for _, s in parts])
    except ValueError as exc:
        raise CommandError(f"cannot merge {', '.join(args.sketches)}: {exc}") from None
    merged.by, merged.time = by, time
    window = next(iter(windows), None)
    if args.output:
        save(args.output, dump_saved(merged, window))
    return print_report(merged, args.binning, args.json, f"{len(parts)} sketch(es)", window)


def run_fit(args: argparse.Namespace) -> int:
    """Stream logs into a sketch and fit a calibrator from it (O(bins) memory)."""
    paths = log_paths(args, "fit")
    check_outputs([args.output], paths)
    result = stream_sketch(args, paths)
    sketch, rows, skipped = result.sketch, result.rows, result.skipped
    if rows == 0:
        raise NothingScored(nothing_scored(skipped) + "; nothing written")
    params = {"bins": args.calibrator_bins} if args.method in ("histogram", "scaling-binning") else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        calibrator = sketch.calibrator(args.method, **params)
    for w in caught:
        print(f"calipers fit: warning: {w.message}", file=sys.stderr)
    save_fitted(args, calibrator.to_json(), rows, skipped)
    return 0


def _checked_call(path: str, call: Callable[[], T]) -> T:
    """``call()`` with 'this file cannot be read' failures as one UnreadableFile."""
    try:
        return call()
    except Exception as exc:
        why = unreadable_reason(exc, path)
        if why is None:
            raise
        raise UnreadableFile(path, *why) from exc


def load_fitted(path: str, family: Any, backend: str | None = None) -> Any:
    """A fitted calibrator or correction (``family``: Calibrator or Correction) from a JSON
    file; every failure is a one-line CommandError. ``backend`` (``apply --backend``) replaces
    the backend saved in the JSON, for the estimators that take one."""
    try:
        with open(path, encoding="utf-8") as fh:
            fitted = family.from_json(fh.read())
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if not fitted.is_fitted:
        raise CommandError(f"{path} holds an unfitted {family._noun}")
    if backend is not None and "backend" in fitted.get_params() and fitted.backend != backend:
        try:
            _backend.resolve(backend)
        except ImportError as exc:
            raise CommandError(f"--backend {backend}: {exc}") from None
        doc = json.loads(fitted.to_json())  # through the loader again: kernels cached at load follow it
        doc["params"]["backend"] = backend
        fitted = family.from_json(json.dumps(doc))
    return fitted


def _clash(where: str, names: list[str], taken: Any) -> None:
    """CommandError when an input already has one of the columns ``apply`` writes: it would
    be overwritten (the input's value lost)."""
    for option, name in zip(("--column", "--reason-column", "--column"), names):
        if name in taken:
            raise CommandError(
                f"{where} already has a column {name!r}: apply would overwrite it; "
                f"name the new column with {option} NAME"
            )


def _calibrate_rows(
    out: Any,
    paths: list[str],
    read_rows: Callable[[str], Any],
    columnar: Callable[[str], Any] | None,
    transform: Callable[[np.ndarray, Callable[[int], str]], Any],
    names: list[str],
    skipped: Skipped,
) -> tuple[int, int]:
    """Write every row of the logs with its transformed value (or null and the skip
    reason; a line that is not a record also keeps its original text); returns (rows
    written, rows transformed). ``names``: the value, reason and raw-text columns.
    ``read_rows(path)`` yields :class:`calipers.io.rows.RowChunk` s; ``columnar(path)``,
    when it gives batches, yields Parquet (batch, values NaN where invalid, reasons)
    instead. A row whose transformed value is not finite gets null and the reason
    'non-finite result' (JSON has no NaN or infinity). ``transform(values, where)`` gets the
    values of a chunk's valid rows and ``where(i)``, the file:line of the i-th of them."""
    column, reason_column, raw_column = names
    written = done = 0
    for path in paths:  # in order, so each reason's first file:line is the first in the logs
        file_format(path)
        batches = _checked_call(path, functools.partial(columnar, path)) if columnar else None
        if batches is not None:  # columnar: no per-row Python
            offset = 0
            for batch, scores, reasons in guarded(path, batches):
                values = np.full(len(scores), np.nan)
                good = ~np.isnan(scores)
                if good.any():
                    rows = np.flatnonzero(good)
                    where = functools.partial(_where, path, (offset + 1 + rows).tolist())
                    values[good] = np.asarray(transform(np.ascontiguousarray(scores[good]), where), np.float64)
                for i in np.flatnonzero(good & ~np.isfinite(values)).tolist():
                    reasons[i] = _NON_FINITE
                    skipped.add(_NON_FINITE, f"{path}:{offset + i + 1}")
                values[~np.isfinite(values)] = np.nan
                out.write_batch(batch, column, values, reason_column, reasons)
                written += batch.num_rows
                offset += batch.num_rows
                done += int(np.isfinite(values).sum())
            continue
        for chunk in guarded(path, read_rows(path)):
            values_list: list[Any] = [None] * len(chunk.records)
            reasons = chunk.reasons
            if len(chunk.good):
                where = functools.partial(_where, path, [chunk.positions[i] for i in chunk.good.tolist()])
                for i, value in zip(
                    chunk.good.tolist(), np.asarray(transform(np.asarray(chunk.values), where)).tolist()
                ):
                    if math.isfinite(value):
                        values_list[i] = value
                        done += 1
                    else:
                        reasons[i] = _NON_FINITE
                        skipped.add(_NON_FINITE, f"{path}:{chunk.positions[i]}")
            for rec, value, reason, raw, at in zip(chunk.records, values_list, reasons, chunk.raws, chunk.positions):
                _clash(f"{path}:{at}", names, rec)
                rec[column] = value
                rec[reason_column] = reason
                if raw is not None:
                    rec[raw_column] = raw
            out.write(chunk.records)
            written += len(chunk.records)
    return written, done


_NON_FINITE = "non-finite result"


def _where(path: str, positions: list[int], i: int) -> str:
    return f"{path}:{positions[i]}"


# a warning about some of the values of one transform call, e.g. "3 prediction(s) lie
# outside the calibration range [0.1, 0.9] (first at index 1): the correction extrapolates"
_COUNTED = re.compile(r"(\d+) (.*)\(first at index (\d+)\)(.*)", re.S)


class _Warnings:
    """The warnings of every transform call of a run, each said once: a warning counting
    values ('N prediction(s) ... (first at index i)', the index into one chunk's valid
    rows) is summed over the chunks and names the first row's file:line instead."""

    def __init__(self) -> None:
        self.counted: dict[tuple[str, str], list[Any]] = {}
        self.other: dict[str, None] = {}

    def add(self, message: str, where: Callable[[int], str]) -> None:
        """Note one warning of a transform call whose rows ``where`` locates."""
        match = _COUNTED.fullmatch(message)
        if match is None:
            self.other.setdefault(message)
            return
        count, head, index, tail = match.groups()
        entry = self.counted.setdefault((head, tail), [0, where(int(index))])
        entry[0] += int(count)

    def lines(self) -> list[str]:
        """The warnings to print, in order of first sight."""
        counted = [f"{count} {head}(first at {first}){tail}" for (head, tail), (count, first) in self.counted.items()]
        return [*self.other, *counted]


def run_apply(args: argparse.Namespace) -> int:
    """Append a calibrated column (a calibrator's JSON) or a corrected one (a correction's:
    ``calipers fit lcc|tweedie``) to every row of the logs, in order, one output row per
    input row (JSONL, CSV or Parquet out, by the name of --output): a row that cannot be
    transformed gets a null value and its skip reason in the reason column. The output
    appears only complete (atomic rename); after any error it is not there."""
    from ..calibration.base import Calibrator
    from ..debias.base import Correction
    from ..io.pairs import read_all_prediction_rows
    from ..io.writers import RowWriter
    from .debias_commands import is_correction_file

    paths = log_paths(args, "apply")
    check_outputs([args.output], [*paths, args.calibrator])
    correcting = is_correction_file(args.calibrator)
    fitted = load_fitted(args.calibrator, Correction if correcting else Calibrator, backend=args.backend)
    column = args.column
    reason_column = args.reason_column or f"{column}_skip_reason"
    if reason_column == column:
        raise CommandError(f"--reason-column must differ from --column ({column!r})")
    raw_column = f"{column}_raw"
    if raw_column == reason_column:
        raise CommandError(f"--reason-column must differ from {raw_column!r} (the raw text of unreadable lines)")
    names = [column, reason_column, raw_column]
    for path in paths:  # CSV headers and Parquet schemas, before anything is written
        file_format(path)
        taken = _checked_call(path, functools.partial(header_columns, path))
        if taken is not None:
            _clash(path, names, taken)
        wanted = [args.prediction] if correcting else [args.score, args.probs, *(columns(args).prob_columns or [])]
        _checked_call(path, functools.partial(check_parquet_types, path, wanted))
    skipped = Skipped()
    caught = _Warnings()
    opts = dict(chunk_size=args.chunk_size, strict=args.strict, skipped=skipped)
    if correcting:
        read_rows: Callable[[str], Any] = lambda path: read_all_prediction_rows(path, args.prediction, **opts)
        columnar = None

        def transform(values: np.ndarray, where: Callable[[int], str]) -> Any:
            with warnings.catch_warnings(record=True) as chunk:
                warnings.simplefilter("always")
                out_values = fitted._transform_values(values)  # a non-finite result: null and a reason
            for w in chunk:
                caught.add(str(w.message), where)
            return out_values

    else:
        cols = columns(args)
        read_rows = lambda path: score_rows(path, cols, **opts)
        columnar = lambda path: read_scored_batches(path, cols, **opts) if parquet_scores_ok(path, cols) else None
        transform = lambda values, where: fitted.transform(values)
    try:
        out = RowWriter(
            args.output,
            types={column: "double", reason_column: "string", raw_column: "string"},
            trailing=(column, reason_column, raw_column),
        )
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    try:
        with out:
            written, done = _calibrate_rows(out, paths, read_rows, columnar, transform, names, skipped)
            if done == 0:  # leaving the block by this error discards the output
                verb = "corrected" if correcting else "calibrated"
                raise NothingScored(nothing_scored(skipped).replace("scored", verb, 1) + "; nothing written")
    except OSError as exc:  # the disk filled up, the folder went away: the output was discarded
        raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    for line in caught.lines():
        print(f"calipers apply: warning: {line}", file=sys.stderr)
    if not args.quiet:
        print(
            f"calipers apply: {written:,} rows written to {args.output}"
            + (
                f", {skipped.total:,} skipped (null {column!r}, the reason in {reason_column!r})"
                if skipped.total
                else ""
            ),
            file=sys.stderr,
        )
        for reason, count in skipped.counts.items():
            print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})", file=sys.stderr)
    return 0
