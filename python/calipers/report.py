"""A self-contained HTML report: the reliability diagram (PNG, also embedded) and tables."""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any

from .sketch import ReliabilitySketch


def _diagram_png(sketch: ReliabilitySketch, binning: str, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    sketch.reliability(binning=binning).plot(ax=ax, title=title)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:.6f}" if isinstance(value, float) else html.escape(str(value))


def write_report(directory: str, sketch: ReliabilitySketch, *, rows: int, skipped: dict[str, int],
                 skipped_first: dict[str, str], binning: str = "width", title: str = "calipers report") -> str:
    """Write ``reliability.png`` and ``index.html`` into ``directory``; returns the HTML path."""
    os.makedirs(directory, exist_ok=True)
    png = _diagram_png(sketch, binning, f"Reliability diagram ({rows:,} rows)")
    with open(os.path.join(directory, "reliability.png"), "wb") as fh:
        fh.write(png)
    metrics = sketch.metrics()
    table = sketch.reliability(binning=binning)
    metric_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in metrics.items())
    bin_rows = "".join(
        f"<tr><td>[{table.edges[i]:.4f}, {table.edges[i + 1]:.4f}]</td><td>{table.count[i]:,}</td>"
        f"<td>{_fmt(float(table.mean_score[i]))}</td><td>{_fmt(float(table.frequency[i]))}</td>"
        f"<td>[{_fmt(float(table.lower[i]))}, {_fmt(float(table.upper[i]))}]</td></tr>"
        for i in range(len(table)) if table.count[i] > 0)
    skip_rows = "".join(f"<tr><td>{html.escape(r)}</td><td>{c:,}</td><td>{html.escape(skipped_first[r])}</td></tr>"
                        for r, c in skipped.items()) or "<tr><td colspan=3>none</td></tr>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}}th{{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{rows:,} rows scored, {sum(skipped.values()):,} skipped; {sketch.bins} {binning} bins.</p>
<img id="reliability" alt="reliability diagram" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Metrics</h2><table id="metrics">{metric_rows}</table>
<h2>Reliability table</h2><table id="bins"><tr><th>bin</th><th>count</th><th>mean score</th>
<th>frequency</th><th>Wilson {table.confidence:.0%}</th></tr>{bin_rows}</table>
<h2>Skipped rows</h2><table id="skipped"><tr><th>reason</th><th>rows</th><th>first at</th></tr>{skip_rows}</table>
</body></html>
"""
    path = os.path.join(directory, "index.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path
