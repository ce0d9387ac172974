"""Reliability diagrams with matplotlib (optional dependency)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ._common.optional import require

__all__ = ["plot_reliability", "plot_smooth", "BinnedTable"]


class BinnedTable(Protocol):
    """What :func:`plot_reliability` reads from a table (a :class:`calipers.ReliabilityTable`)."""

    @property
    def edges(self) -> np.ndarray:
        """Bin edges, length bins + 1."""

    @property
    def count(self) -> np.ndarray:
        """Samples (weight) per bin."""

    @property
    def mean_score(self) -> np.ndarray:
        """Mean score per bin."""

    @property
    def frequency(self) -> np.ndarray:
        """Observed frequency per bin."""

    @property
    def lower(self) -> np.ndarray:
        """Lower end of each bin's interval."""

    @property
    def upper(self) -> np.ndarray:
        """Upper end of each bin's interval."""

    @property
    def confidence(self) -> float:
        """The intervals' confidence level."""

    @property
    def n(self) -> float:
        """Number of samples (total weight) in the table."""


def plot_reliability(table: BinnedTable, ax: Any = None, *, title: str | None = None, show_counts: bool = True) -> Any:
    """Observed frequency per bin with Wilson error bars against mean score, the
    diagonal of perfect calibration, and a histogram of each bin's share of the samples
    underneath, read on its own axis on the right (the tallest bar fills a quarter of the
    height)."""
    plt = require("matplotlib.pyplot", "plotting")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    nz = table.count > 0
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    yerr = np.vstack([table.frequency[nz] - table.lower[nz], table.upper[nz] - table.frequency[nz]])
    ax.errorbar(
        table.mean_score[nz],
        table.frequency[nz],
        yerr=yerr,
        fmt="o-",
        color="C0",
        capsize=3,
        label=f"observed (Wilson {table.confidence:.0%})",
    )
    if show_counts and table.n > 0:
        widths = np.diff(table.edges)
        share = table.count / table.n
        top = max(float(share.max()), 1e-12)
        ax.bar(
            table.edges[:-1],
            share * 0.25 / top,
            width=widths,
            align="edge",
            color="C1",
            alpha=0.3,
            label="share of samples (right axis)",
        )
        from matplotlib.ticker import PercentFormatter

        scale = ax.twinx()  # bar height h on the left axis is the share 4 h top on this one
        scale.set_ylim(0, 4 * top)
        scale.yaxis.set_major_formatter(PercentFormatter(1.0))
        scale.set_ylabel("share of samples", color="C1")
        scale.tick_params(axis="y", colors="C1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean score")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or f"Reliability diagram (n={table.n})")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_smooth(curve: Any, ax: Any = None, *, title: str | None = None) -> Any:
    """The smoothed reliability curve (relplot's style of diagram): the kernel-weighted
    outcome frequency against the score, its line width following the score density."""
    plt = require("matplotlib.pyplot", "plotting")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(
        curve.t,
        curve.frequency,
        color="C0",
        linewidth=1.5,
        label=f"smoothed (sigma={curve.sigma:.3f}, smECE={curve.smooth_ece:.4f})",
    )
    density = curve.density / max(float(np.nanmax(curve.density)), 1e-12)
    ax.fill_between(curve.t, 0, density * 0.25, color="C1", alpha=0.3, label="score density")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("score")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or "Smoothed reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return ax
