"""What ``calipers score`` and ``calipers merge`` print: the reliability table and metrics
on a terminal, or one JSON object (``--json``), per group and per window too."""

from __future__ import annotations

import json
from typing import Any

from ..streaming.sketch import ReliabilitySketch
from .common import clean, fmt, json_safe
from .scored import Scored


def summary(sketch: ReliabilitySketch) -> dict[str, Any]:
    m = sketch.metrics()
    return {"rows": sketch.count, "metrics": {k: clean(v) for k, v in m.items()}}


def window_label(start: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(start, tz=timezone.utc).isoformat()


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
    if as_json:
        out: dict[str, Any] = {
            "rows": rows,
            "skipped": skipped.counts,
            "skipped_first": skipped.first,
            "bins": sketch.bins,
            "binning": binning,
            "metrics": metrics,
            "reliability": table.to_dict(),
            "groups": groups,
            "windows": windows,
        }
        print(json.dumps(json_safe(out), indent=2, allow_nan=False))
        return 0
    print(f"calipers: {rows:,} rows from {source}" + (f", {skipped.total:,} skipped" if skipped.total else ""))
    for reason, count in skipped.counts.items():
        print(f"  skipped {count:,} x {reason} (first at {skipped.first[reason]})")
    print()
    print(table.to_string())
    print()
    names = {
        "ece": f"ECE ({binning}, l1)",
        "ece_l2": "RMS calibration error",
        "mce": "MCE (max gap)",
        "ece_l2_debiased": "debiased RMS CE",
        "ece_mass": "ECE (equal-mass)",
        "brier": "Brier score",
        "smooth_ece": "smooth ECE",
        "brier_skill_score": "Brier skill score",
        "log_loss": "log loss",
        "pce": "PCE across groups",
    }
    for key, label in names.items():
        if key in metrics:
            value = metrics[key]
            print(f"{label:>24s}: {'n/a' if value is None else f'{value:.6f}'}")
    if "ece_width_interval_95" in metrics:
        lo, hi = metrics["ece_width_interval_95"]
        print(
            f"{'ECE (width) 95% interval':>24s}: [{fmt(lo)}, {fmt(hi)}] "
            f"({sketch.replicates} Poisson bootstrap replicates)"
        )
    for title, items in (("group", list(groups.items())), ("window start", [(w["start"], w) for w in windows])):
        if items:
            print(f"\n{title:>26s} {'rows':>10s} {'ECE':>9s} {'Brier':>9s}")
            for key, entry in items:
                ece, brier = entry["metrics"]["ece"], entry["metrics"]["brier"]
                print(f"{str(key)[:26]:>26s} {entry['rows']:>10,} {fmt(ece):>9s} {fmt(brier):>9s}")
    return 0
