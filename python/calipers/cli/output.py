"""What ``calipers score`` and ``calipers merge`` print: the reliability table and metrics
on a terminal, or one JSON object (``--json``), per group and per window too."""

from __future__ import annotations

import json
from typing import Any

from ..streaming.sketch import ReliabilitySketch
from .common import clean, fmt, json_safe
from .scored import Scored, grid_cells


def summary(sketch: ReliabilitySketch) -> dict[str, Any]:
    """Rows and metrics of one sketch (a group's or a window's)."""
    m = sketch.metrics()
    return {"rows": sketch.count, "metrics": {k: clean(v) for k, v in m.items()}}


def window_label(start: float) -> str:
    """A window's start as ISO 8601 (UTC); epoch seconds when no date can show it."""
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(start, tz=timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{start:.0f} s since 1970-01-01T00:00:00+00:00"


def metric_names(binning: str, mode: str | None) -> dict[str, str]:
    """Readable names of the metric keys; for (n, K) input the pair-based metrics say they
    are top-label (or class-averaged)."""
    pairs = {"top-label": " (top-label)", "marginal": " (class-averaged)"}.get(mode or "", "")
    return {
        "ece": f"ECE ({binning}, l1){pairs}",
        "ece_l2": f"RMS calibration error{pairs}",
        "mce": f"MCE (max gap){pairs}",
        "ece_l2_debiased": f"debiased RMS CE{pairs}",
        "ece_mass": f"ECE (equal-mass){pairs}",
        "brier": f"Brier score{pairs}",
        "smooth_ece": f"smooth ECE{pairs}",
        "brier_skill_score": f"Brier skill score{pairs}",
        "log_loss": f"log loss{pairs}",
        "pce": f"PCE across groups{pairs}",
        "ece_width_interval_95": f"ECE (width) 95% interval{pairs}",
    }


def group_grid_of(scored: Scored) -> str | tuple[int, int] | None:
    """The grid of the groups (or else the windows) of a run, or None when it has neither."""
    for part in (scored.groups, scored.windows):
        if len(part):
            return part.grid
    return None


def group_grid_note(grid: str | tuple[int, int] | None) -> str:
    """The sentence saying which grid the per-group and per-window metrics use."""
    cells = grid_cells(grid)
    exact = (
        "the same as scoring each group's rows alone"
        if grid == "fine"
        else "--group-grid fine gives the values of scoring each group's rows alone"
    )
    return (
        f"per-group and per-window equal-mass ECE and smooth ECE use the {grid} grid ({cells} cells; "
        f"equal-width ECE and Brier are exact on any grid): {exact}"
    )


def print_report(scored: Scored, binning: str, as_json: bool, source: str, window: float | None = None) -> int:
    """Print the reliability table and metrics (or one JSON object), per group and window too."""
    sketch, rows, skipped = scored.sketch, scored.rows, scored.skipped
    metrics: dict[str, Any] = {k: clean(v) for k, v in sketch.metrics().items()}
    if binning == "mass":
        metrics["ece"] = metrics["ece_mass"]
    if len(scored.groups):
        metrics["pce"] = clean(scored.groups.pce())
    if sketch.replicates and sketch.count:
        ci = sketch.ece_interval()
        metrics["ece_width_interval_95"] = [clean(ci.low), clean(ci.high)]
    table = sketch.reliability(binning=binning)
    groups = {key: summary(s) for key, s in scored.groups.items()}
    windows = [{"start": window_label(index * window), **summary(s)} for index, s in scored.windows.items()]
    grid = group_grid_of(scored)
    if as_json:
        out: dict[str, Any] = {
            "rows": rows,
            "mode": sketch.kind,
            "skipped": skipped.counts,
            "skipped_first": skipped.first,
            "bins": sketch.bins,
            "binning": binning,
            "metrics": metrics,
            "reliability": table.to_dict(),
            "groups": groups,
            "windows": windows,
            "group_grid": None if grid is None else {"grid": grid, "cells": grid_cells(grid)},
        }
        print(json.dumps(json_safe(out), indent=2, allow_nan=False))
        return 0
    print(f"calipers: {rows:,} rows from {source}" + (f", {skipped.total:,} skipped" if skipped.total else ""))
    for reason, count in skipped.counts.items():
        print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})")
    print()
    print(table.to_string())
    print()
    names = metric_names(binning, sketch.kind)
    if sketch.kind in ("top-label", "marginal"):
        print(f"{'mode':>24s}: {sketch.kind} (pairs from the (n, K) probabilities)")
    for key, label in names.items():
        if key in metrics and key != "ece_width_interval_95":
            value = metrics[key]
            print(f"{label:>24s}: {'n/a' if value is None else f'{value:.6f}'}")
    if "ece_width_interval_95" in metrics:
        lo, hi = metrics["ece_width_interval_95"]
        print(
            f"{names['ece_width_interval_95']:>24s}: [{fmt(lo)}, {fmt(hi)}] "
            f"({sketch.replicates} Poisson bootstrap replicates)"
        )
    for title, items in (("group", list(groups.items())), ("window start", [(w["start"], w) for w in windows])):
        if items:
            print(f"\n{title:>26s} {'rows':>10s} {'ECE':>9s} {'Brier':>9s}")
            for key, entry in items:
                ece, brier = entry["metrics"]["ece"], entry["metrics"]["brier"]
                print(f"{str(key)[:26]:>26s} {entry['rows']:>10,} {fmt(ece):>9s} {fmt(brier):>9s}")
    if grid is not None:
        print(f"\n{group_grid_note(grid)}")
    return 0
