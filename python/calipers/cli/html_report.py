"""A self-contained HTML report: the reliability diagram (PNG, also embedded) and tables."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

from .._common.optional import require
from ..io.atomic import write_atomic
from ..streaming.grouped import pce_from_sketches
from ..streaming.sketch import ReliabilitySketch
from .output import group_grid_note, metric_names


def _figure_png(draw: Callable[[Any], None], figsize: tuple[float, float] = (5.5, 5.5)) -> bytes:
    """PNG bytes of one matplotlib (Agg) figure whose axes ``draw`` fills."""
    matplotlib = require("matplotlib", "calipers score --report")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:  # told once, in write_report's words
        warnings.simplefilter("always")
        draw(ax)
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    sink = getattr(_CAUGHT, "messages", None)
    if sink is not None:
        sink.extend(str(w.message) for w in caught)
    return buf.getvalue()


_CAUGHT = threading.local()  # .messages: warnings of the figures the running write_report drew
_GLYPH = re.compile(r"Glyph \d+ .* missing from font")


def _warning_lines(messages: list[str]) -> list[str]:
    """Each distinct figure warning once; matplotlib's one per missing glyph as one line."""
    glyphs = {m for m in messages if _GLYPH.search(m)}
    lines = list(dict.fromkeys(m for m in messages if m not in glyphs))
    if glyphs:
        lines.append(
            f"the plotting font lacks {len(glyphs)} character(s) of the group names: the diagrams show them as "
            "boxes (index.html prints the names in full)"
        )
    return lines


def _diagram_png(sketch: ReliabilitySketch, binning: str, title: str) -> bytes:
    return _figure_png(lambda ax: sketch.reliability(binning=binning).plot(ax=ax, title=title))


def _smooth_png(sketch: ReliabilitySketch) -> bytes | None:
    """The smoothed reliability curve (binary and top-label sketches)."""
    if sketch.classes is not None or sketch.count == 0:
        return None
    return _figure_png(lambda ax: sketch.smooth_reliability().plot(ax=ax, title="Smoothed reliability diagram"))


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:.6f}" if isinstance(value, float) else html.escape(str(value))


def _drift_png(windows: dict[str, ReliabilitySketch]) -> bytes:
    labels = list(windows)
    tables = [windows[k].reliability() for k in labels]
    ece = [windows[k].ece() for k in labels]
    score = [t.sum_score.sum() / max(windows[k].count, 1) for k, t in zip(labels, tables)]
    freq = [t.sum_label.sum() / max(windows[k].count, 1) for k, t in zip(labels, tables)]

    def draw(ax: Any) -> None:
        x = range(len(labels))
        ax.plot(x, ece, "o-", label="ECE")
        ax.plot(x, score, "s--", label="mean score")
        ax.plot(x, freq, "^--", label="observed frequency")
        ax.set_xticks(list(x))
        ax.set_xticklabels([k[:16] for k in labels], rotation=45, ha="right", fontsize="small")
        ax.set_title("Calibration drift per window")
        ax.legend(fontsize="small")

    return _figure_png(draw, (8, 4))


def _group_ece_intervals(
    groups: dict[str, ReliabilitySketch], resamples: int = 400, seed: int = 0
) -> list[tuple[str, float, float, float, int]]:
    """(key, ECE, low, high, rows) per non-empty group, sorted by ECE (largest first). The
    95% interval resamples each group's (bin, outcome) counts multinomially with the
    scores at their bin's mean (the sketch keeps no per-sample scores)."""
    import numpy as np

    from ..metrics.bootstrap import replicate_errors

    rng = np.random.default_rng(seed)
    out = []
    for key, s in groups.items():
        if s.count == 0:
            continue
        units = np.zeros(2 * s.bins)
        means = np.zeros(2 * s.bins)
        for st in s._stats("width", None):  # marginal sketches: the class-wise units pooled
            units[0::2] += st.count - st.sum_label
            units[1::2] += st.sum_label
            mean = np.divide(st.sum_score, st.count, out=np.zeros(s.bins), where=st.count > 0)
            means[0::2], means[1::2] = mean, mean
        n = int(units.sum())
        draws = rng.multinomial(n, units / n, size=resamples).astype(np.float64)
        values = replicate_errors(draws, draws * means, "l1", False)
        low, high = np.quantile(values, [0.025, 0.975])
        out.append((key, float(s.ece()), float(low), float(high), s.count))
    return sorted(out, key=lambda r: -r[1])


def _overview_png(rows: list[tuple[str, float, float, float, int]]) -> bytes:
    """ECE of every group with its interval, one line per group, worst at the top."""

    def draw(ax: Any) -> None:
        y = list(range(len(rows)))[::-1]
        ece = [r[1] for r in rows]
        err = [[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]]
        ax.errorbar(ece, y, xerr=[[max(e, 0.0) for e in err[0]], [max(e, 0.0) for e in err[1]]], fmt="o", capsize=3)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{r[0][:24]} ({r[4]:,})" for r in rows], fontsize="small")
        ax.set_xlabel("ECE (equal-width), 95% bootstrap interval")
        ax.set_title(f"ECE per group ({len(rows)} groups, sorted)")
        ax.grid(axis="x", alpha=0.3)

    return _figure_png(draw, (8, max(2.5, 0.28 * len(rows) + 1.2)))


def _overview_html(directory: str, groups: dict[str, ReliabilitySketch]) -> str:
    """The overview chart and its table, shown before the per-group diagrams."""
    rows = _group_ece_intervals(groups)
    if not rows:
        return ""
    png = _save(directory, "groups_overview.png", _overview_png(rows))
    table = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{n:,}</td><td>{_fmt(e)}</td><td>[{_fmt(lo)}, {_fmt(hi)}]</td></tr>"
        for k, e, lo, hi, n in rows
    )
    return (
        f'{_img(png, "ECE per group with intervals", "overview")}<table id="overview-table"><tr><th>group</th>'
        f"<th>rows</th><th>ECE</th><th>95% interval</th></tr>{table}</table>"
    )


def _save(directory: str, name: str, png: bytes) -> bytes:
    write_atomic(os.path.join(directory, name), png)
    return png


def _img(png: bytes, alt: str, ident: str) -> str:
    return f'<img id="{ident}" alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def group_stem(key: str) -> str:
    """The file-name and HTML-id stem of a group: its name with every run outside
    [A-Za-z0-9_.-] as '_', cut at 40 characters, then '-' and the first 10 hex digits of the
    SHA-256 of its UTF-8 name, so different names ('日本' and '中国', 'a/b' and 'a_b') never
    share a file or an id, and a name always gets the same one."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)[:40] or 'group'}-{digest}"


def write_report(
    directory: str,
    sketch: ReliabilitySketch,
    *,
    rows: int,
    skipped: dict[str, int],
    skipped_first: dict[str, str],
    binning: str = "width",
    title: str = "calipers report",
    groups: dict[str, ReliabilitySketch] | None = None,
    windows: dict[str, ReliabilitySketch] | None = None,
    warn: Callable[[str], None] | None = None,
) -> str:
    """Write ``reliability.png``, one ``reliability_<group_stem(key)>.png`` per group,
    ``smooth.png`` (the smoothed curve), ``drift.png`` for windows, and a self-contained
    ``index.html`` embedding them with the tables; returns the HTML path. Plotting warnings
    (a font without some characters of a group name) go to ``warn``, one line each, or
    nowhere when it is None."""
    _CAUGHT.messages = []
    try:
        return _write_report(directory, sketch, rows, skipped, skipped_first, binning, title, groups, windows)
    finally:
        lines = _warning_lines(_CAUGHT.messages)
        _CAUGHT.messages = None
        if warn is not None:
            for line in lines:
                warn(line)


def _write_report(
    directory: str,
    sketch: ReliabilitySketch,
    rows: int,
    skipped: dict[str, int],
    skipped_first: dict[str, str],
    binning: str,
    title: str,
    groups: dict[str, ReliabilitySketch] | None,
    windows: dict[str, ReliabilitySketch] | None,
) -> str:
    os.makedirs(directory, exist_ok=True)
    png = _save(directory, "reliability.png", _diagram_png(sketch, binning, f"Reliability diagram ({rows:,} rows)"))
    extra = []
    smooth = _smooth_png(sketch)
    smooth_html = ""
    if smooth is not None:
        smooth_html = _img(_save(directory, "smooth.png", smooth), "smoothed reliability diagram", "smooth")
    if groups:
        extra.append(_overview_html(directory, groups))
    for key, s in sorted((groups or {}).items(), key=lambda item: (isinstance(item[0], str), item[0])):
        key = str(key)
        stem = group_stem(key)
        gpng = _save(directory, f"reliability_{stem}.png", _diagram_png(s, binning, f"{key} ({s.count:,} rows)"))
        m = s.metrics()
        extra.append(
            f"<h3>{html.escape(key)}</h3><p>{s.count:,} rows, ECE {_fmt(m['ece'])}, "
            f"Brier {_fmt(m['brier'])}</p>{_img(gpng, f'reliability diagram of {key}', 'group-' + stem)}"
        )
    if windows:
        dpng = _save(directory, "drift.png", _drift_png(windows))
        rows_html = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{s.count:,}</td><td>{_fmt(s.ece())}</td><td>{_fmt(s.brier())}</td></tr>"
            for k, s in windows.items()
        )
        extra.append(
            f'<h2>Drift</h2>{_img(dpng, "drift plot", "drift")}<table id="windows"><tr><th>window start'
            f"</th><th>rows</th><th>ECE</th><th>Brier</th></tr>{rows_html}</table>"
        )
    parts = [*(groups or {}).values(), *(windows or {}).values()]
    grid_html = f'<p id="group-grid">Note: {html.escape(group_grid_note(parts[0].grid))}.</p>' if parts else ""
    metrics: dict[str, Any] = dict(sketch.metrics())
    if binning == "mass":
        metrics["ece"] = metrics["ece_mass"]
    if groups:
        metrics["pce"] = pce_from_sketches(groups.values())
    names = metric_names(binning, sketch.kind)
    metric_rows = "".join(
        f'<tr><th title="{html.escape(k)}">{html.escape(names.get(k, k))}</th><td>{_fmt(v)}</td></tr>'
        for k, v in metrics.items()
    )
    if sketch.replicates and sketch.count:
        ci = sketch.ece_interval()
        metric_rows += (
            f'<tr id="ece-interval"><th title="ece_width_interval_95">{html.escape(names["ece_width_interval_95"])}'
            f"</th><td>[{_fmt(float(ci.low))}, {_fmt(float(ci.high))}] ({sketch.replicates} Poisson bootstrap "
            "replicates)</td></tr>"
        )
    mode = {
        "binary": "binary: each score is P(y = 1) against its 0/1 outcome",
        "top-label": "top-label: the largest class probability against whether that class was right",
        "marginal": "marginal: every class probability against its one-vs-rest outcome, averaged over classes",
    }.get(sketch.kind or "", "no input yet")
    table = sketch.reliability(binning=binning)
    total = max(int(table.count.sum()), 1)
    bin_rows = "".join(
        f"<tr><td>[{table.edges[i]:.4f}, {table.edges[i + 1]:.4f}]</td><td>{table.count[i]:,}</td>"
        f"<td>{table.count[i] / total:.1%}</td>"
        f"<td>{_fmt(float(table.mean_score[i]))}</td><td>{_fmt(float(table.frequency[i]))}</td>"
        f"<td>[{_fmt(float(table.lower[i]))}, {_fmt(float(table.upper[i]))}]</td></tr>"
        for i in range(len(table))
        if table.count[i] > 0
    )
    skip_rows = (
        "".join(
            f"<tr><td>{html.escape(r)}</td><td>{c:,}</td><td>{html.escape(skipped_first[r])}</td></tr>"
            for r, c in skipped.items()
        )
        or "<tr><td colspan=3>none</td></tr>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}}th{{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{rows:,} rows scored, {sum(skipped.values()):,} skipped; {sketch.bins} {binning} bins.</p>
<p id="mode">Mode: {html.escape(mode)}.</p>
{_img(png, "reliability diagram", "reliability")}{smooth_html}
<h2>Metrics</h2><table id="metrics">{metric_rows}</table>
<h2>Reliability table</h2><table id="bins"><tr><th>bin</th><th>count</th><th>share of samples</th><th>mean score</th>
<th>frequency</th><th>Wilson {table.confidence:.0%}</th></tr>{bin_rows}</table>
{"<h2>Groups</h2>" if groups else ""}{grid_html}{"".join(extra)}
<h2>Skipped rows</h2><table id="skipped"><tr><th>reason</th><th>rows</th><th>first at</th></tr>{skip_rows}</table>
</body></html>
"""
    path = os.path.join(directory, "index.html")
    write_atomic(path, page)
    return path
