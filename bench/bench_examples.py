"""The worked examples' numbers that docs/debiasing.md and docs/sdm.md quote: runs
examples/debias_regression.py, examples/hcalibration_cifar.py and examples/sdm_hidden_layer.py
as written (seeded), records what they print and return as tables, and prints the docs'
quotes (``example_*``), the CIFAR-10 fit times included (one run each, inside the example).

    python bench/bench_examples.py --quick   # the examples as written (quick and full are the same)
    python bench/bench_examples.py --tiny    # HCalibration capped at 25 epochs: a harness check
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import pathlib
import types
from typing import Any

import numpy as np
from timing import Report, fmt_seconds, parse_args, quoted_table

ROOT = pathlib.Path(__file__).resolve().parents[1]
PEERS = ("scikit-learn",)
#: HCalibration's epoch cap by mode (the example's default is 2000)
MAX_EPOCHS = {"tiny": 25, "quick": 2000, "full": 2000}


def load_example(name: str) -> types.ModuleType:
    """examples/NAME.py as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def debias_regression(report: Report) -> None:
    """The shrinkage, the corrected contrasts and PPI++ of examples/debias_regression.py."""
    out = load_example("debias_regression").main(verbose=True)
    report.quote("example_debias_fit", f"{out['slope']:.3f} (R² {out['r2']:.3f})")
    rows = [
        ("truth", f"{out['truth']:.3f}", ""),
        ("naive (predictions)", f"{out['naive']:.3f}", ""),
        ("LCC", f"{out['lcc']:.3f}", f"[{out['lcc_low']:.3f}, {out['lcc_high']:.3f}]"),
        ("Tweedie", f"{out['tweedie']:.3f}", f"[{out['tweedie_low']:.3f}, {out['tweedie_high']:.3f}]"),
    ]
    columns = ["estimate", "value", "95% bootstrap"]
    table = report.table("example-debias-contrast", "examples/debias_regression.py: the contrast", columns)
    for row in rows:
        table.add(*row)
    report.quote("example_debias_contrast", quoted_table(columns, rows))
    report.quote(
        "example_debias_ppi",
        f"(truth {out['true_mean']:.3f}) as {out['ppi']:.3f} with a 90% interval of width {out['ppi_width']:.3f} "
        f"(λ = {out['ppi_lam']:.3f}), against {out['classical_width']:.3f}",
    )


def hcalibration_cifar(report: Report) -> None:
    """The table of examples/hcalibration_cifar.py and what it shows."""
    out = load_example("hcalibration_cifar").main(max_epochs=MAX_EPOCHS[report.mode])
    metrics: dict[str, dict[str, float]] = out["metrics"]
    fit: dict[str, float] = out["fit_seconds"]
    columns = ["", "ECE", "dECE", "debiased l2", "NLL", "accuracy", "fit (one run)", "epochs"]
    rows = []
    for name, m in metrics.items():
        rows.append(
            [name, *(f"{m[k]:.4f}" for k in ("ece", "debiased_ece", "debiased_l2", "nll", "accuracy")),
             fmt_seconds(fit[name]) if name in fit else "",
             f"{m['epochs']:.0f}" if "epochs" in m else ""]
        )  # fmt: skip
    table = report.table("example-hcal", "examples/hcalibration_cifar.py (fit on one half, evaluated on the other)",
                         columns)  # fmt: skip
    for row in rows:
        table.add(*row)
    report.quote("example_hcal_table", quoted_table(columns, rows))
    report.quote("example_hcal_verdict", hcal_verdict(metrics))


def hcal_verdict(metrics: dict[str, dict[str, float]]) -> str:
    """What the CIFAR-10 table shows, in words, from its numbers."""
    ts, hu, ha = metrics["temperature scaling"], metrics["h-calibration (unweighted)"], metrics["h-calibration (ace)"]
    names = {"ece": "ECE", "debiased_ece": "dECE", "nll": "NLL"}
    wins = [label for key, label in names.items() if hu[key] < ts[key]]
    losses = [label for key, label in names.items() if hu[key] >= ts[key]]
    if not wins:
        first = "h-calibration does not beat temperature scaling on ECE, dECE or NLL"
    elif not losses:
        first = "h-calibration beats temperature scaling on ECE, dECE and NLL"
    else:
        first = f"h-calibration beats temperature scaling on {' and '.join(wins)}, not on {' or '.join(losses)}"
    best_l2 = min(metrics, key=lambda name: metrics[name]["debiased_l2"])
    second = f"{best_l2} has the lowest debiased l2 error"
    ace = (
        f'The "ace" weighting stops after {ha["epochs"]:.0f} epochs (unweighted: {hu["epochs"]:.0f}) and calibrates '
        + ("worse" if ha["ece"] > hu["ece"] and ha["nll"] > hu["nll"] else "no worse on ECE or NLL")
        + f" (ECE {ha['ece']:.4f}, NLL {ha['nll']:.4f})"
    )
    return f"on this model and split {first}; {second}. {ace}."


def sdm_hidden_layer(report: Report) -> None:
    """What examples/sdm_hidden_layer.py prints, and the same split at a higher alpha and
    another seed, with its calibration points per class."""
    example = load_example("sdm_hidden_layer")
    runs: dict[tuple[int, float], dict[str, Any]] = {}
    printed = ""
    for seed, alpha in ((1, 0.9), (1, 0.95), (0, 0.9)):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            runs[seed, alpha] = example.main(seed=seed, alpha=alpha)
        if (seed, alpha) == (1, 0.9):
            printed = buf.getvalue()
        print(f"seed {seed}, alpha {alpha}:\n{buf.getvalue()}")
    report.quote("example_sdm_output", "\n\n```\n" + printed + "```\n\n")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    _, y = load_digits(return_X_y=True)  # the example's split (its labels are all it takes)
    _, y_rest = train_test_split(y, test_size=0.6, random_state=1, stratify=y)
    y_ca, _ = train_test_split(y_rest, test_size=1 / 3, random_state=1, stratify=y_rest)
    per_class = np.bincount(y_ca)
    table = report.table(
        "example-sdm", "examples/sdm_hidden_layer.py: the share of test points admitted (lower), by seed and alpha",
        ["seed", "alpha", "admitted", "accuracy inside", "q'_min"]
    )  # fmt: skip
    for (seed, alpha), out in runs.items():
        q_min = out["q'_min"]
        table.add(seed, alpha, f"{out['admitted to the high-reliability region (lower)']:.3f}",
                  f"{out['accuracy inside the region']:.3f}", f"{q_min:.3f}")  # fmt: skip

    def admitted(seed: int, alpha: float) -> str:
        share = runs[seed, alpha]["admitted to the high-reliability region (lower)"]
        return "nothing" if share == 0 else f"{share:.1%} of the test points"

    counts = f"{per_class.min()}" if per_class.min() == per_class.max() else f"{per_class.min()}-{per_class.max()}"
    report.quote(
        "example_sdm_thin",
        f"with {counts} calibration points per class, α = 0.95 admits {admitted(1, 0.95)} on this split (and "
        f"α = 0.9 {admitted(0, 0.9)} on seed 0)",
    )


def main(argv: list[str] | None = None) -> None:
    """Every example."""
    args = parse_args(__doc__ or "", argv)
    report = Report(__file__, args, PEERS)
    debias_regression(report)
    hcalibration_cifar(report)
    sdm_hidden_layer(report)
    report.finish()


if __name__ == "__main__":
    main()
