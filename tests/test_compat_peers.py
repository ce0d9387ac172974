"""ece(..., compat="torchmetrics") and ece(..., compat="netcal") against the real packages.

Always: against the values torchmetrics 1.9.0 (torch 2.13.0 CPU) and netcal 1.4.0 produced on
the CIFAR-10 VGG16 outputs, scikit-learn models' outputs (binary and 10-class) and edge cases,
stored by tests/data/make_peer_values.py (CI does not install torch). When the packages are
installed, also live, on the same data and more bin counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from real_data import peer_datasets

import calipers
from calipers.metrics import compat

DATA = Path(__file__).parent / "data"
DOC = json.loads((DATA / "peer_calibration_errors.json").read_text())
# torch's float32 sqrt (MKL) is not correctly rounded: 16% of values differ from IEEE sqrt by one
# float32 ulp (measured on 10^6 values). Everything before the sqrt is reproduced bit for bit,
# so an l2 error of float32 confidences agrees to one float32 ulp (relative 2^-23 = 1.2e-7;
# measured: at most 3.7e-9 absolute on these data). Every other value agrees to 1e-12.
F32_ULP = 2.0**-23


DATASETS = peer_datasets()


def _float32_confidences(P: np.ndarray) -> bool:
    return P.ndim == 2 or P.dtype == np.float32  # torchmetrics' multiclass path casts to float32


def _calipers(rec: dict, P: np.ndarray, y: np.ndarray) -> float:
    kwargs = {"bins": rec["bins"], "norm": rec["norm"], "compat": rec["compat"]}
    if rec["compat"] == "netcal":
        kwargs["binning"] = rec["binning"]
    return calipers.ece(P, y, **kwargs)


def _agrees(rec: dict, got: float, expected: float, P: np.ndarray) -> bool:
    """torchmetrics on float32 confidences: bit for bit (l1, max) or to one float32 ulp (l2,
    torch's sqrt). On float64 its sums run in another order: 1e-15 (measured <= 6e-17).
    netcal: 1e-12 (measured: bit for bit)."""
    if rec["compat"] == "torchmetrics" and _float32_confidences(P):
        if rec["norm"] == "l2":
            return abs(got - expected) <= F32_ULP * abs(expected)
        return got == expected
    if rec["compat"] == "torchmetrics":
        return abs(got - expected) <= 1e-15
    return abs(got - expected) <= 1e-12 + 1e-12 * abs(expected)


def test_stored_values_cover_both_peers_and_all_data():
    assert DOC["versions"]["torchmetrics"] == "1.9.0" and DOC["versions"]["netcal"] == "1.4.0"
    names = {r["data"] for r in DOC["records"]}
    assert {"cifar10-f32", "cifar10-f64", "cancer-lr", "cancer-lr-1d", "digits-nb", "edges-f32"} <= names
    assert len(DOC["records"]) == 291


@pytest.mark.parametrize("compat_mode", ["torchmetrics", "netcal"])
def test_equal_to_stored_reference_values(compat_mode: str) -> None:
    checked, exact, refused = 0, 0, 0
    for rec in DOC["records"]:
        if rec["compat"] != compat_mode:
            continue
        P, y = DATASETS[rec["data"]]
        if isinstance(rec["value"], str):  # the reference refused the input: so does calipers
            with pytest.raises(ValueError, match="netcal"):
                _calipers(rec, P, y)
            refused += 1
            continue
        got = _calipers(rec, P, y)
        assert _agrees(rec, got, rec["value"], P), (rec, got)
        exact += got == rec["value"]
        checked += 1
    assert checked + refused == {"torchmetrics": 3 * 3 * 15, "netcal": 2 * 2 * 3 * 13}[compat_mode]
    assert exact >= {"torchmetrics": 120, "netcal": 126}[compat_mode]  # bit for bit (measured)
    if compat_mode == "netcal":
        assert refused == 30  # tied quantile edges (scipy refuses them) on the saturated outputs


def test_torchmetrics_conventions():
    # a confidence of exactly 1.0 has its own bin (peers.md example B): 0.525, not 0.475
    assert calipers.ece([0.95, 1.0], [1, 0], bins=10, compat="torchmetrics") == pytest.approx(0.525, abs=1e-12)
    assert calipers.ece([0.95, 1.0], [1, 0], bins=10) == pytest.approx(0.475, abs=1e-12)
    # a float32 score on an edge goes to the upper bin (example C): 0.55 with float32, 0.3833 with float64
    p = np.array([0.3, 0.3, 0.25])
    p32 = p.astype(np.float32)
    assert calipers.ece(p32, [1, 1, 0], bins=10, compat="torchmetrics") == pytest.approx(0.55, abs=1e-6)
    assert calipers.ece(p, [1, 1, 0], bins=10, compat="torchmetrics") == pytest.approx(0.38333333333333336, abs=1e-12)
    # logits are passed through a sigmoid / softmax, rows are not checked
    z = np.array([-2.0, 0.5, 3.0])
    assert calipers.ece(z, [0, 1, 1], compat="torchmetrics") == pytest.approx(
        calipers.ece(1 / (1 + np.exp(-z)), [0, 1, 1], compat="torchmetrics"), abs=1e-15
    )
    assert calipers.ece([[0.5, 0.6]], [1], compat="torchmetrics") == pytest.approx(0.4, abs=1e-7)


def test_netcal_conventions():
    # labels with at most 2 distinct values make netcal's problem binary: 3 columns are refused
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    with pytest.raises(ValueError, match="netcal treats the problem as binary"):
        calipers.ece(P, [0, 1, 1], compat="netcal")
    # (n, 2) scores in a binary problem: column 1 against the labels (not the top label)
    P2 = np.array([[0.7, 0.3], [0.2, 0.8]])
    assert calipers.ece(P2, [1, 1], bins=2, compat="netcal") == pytest.approx(
        calipers.ece(P2[:, 1], [1, 1], bins=2, compat="netcal"), abs=0
    )
    # values outside [0, 1] are clipped, not refused; NaN is refused
    assert np.isfinite(calipers.ece([1.5, -0.2, 0.5], [1, 0, 1], compat="netcal"))
    with pytest.raises(ValueError, match="NaN"):
        calipers.ece([np.nan, 0.5], [1, 0], compat="netcal")
    # ACE is the unweighted mean over non-empty bins
    p, y = np.array([0.05, 0.06, 0.07, 0.95]), np.array([1, 1, 1, 1])
    gaps = [1 - np.mean(np.clip(p[:3], 2**-52, 1 - 2**-52)), 1 - 0.95]
    assert calipers.ece(p, y, bins=10, norm="average", compat="netcal") == pytest.approx(np.mean(gaps), abs=1e-15)


def test_compat_options_are_checked():
    p, y = [0.2, 0.8], [0, 1]
    with pytest.raises(ValueError, match="norm must be one of"):
        calipers.ece(p, y, norm="average", compat="torchmetrics")
    with pytest.raises(ValueError, match="binning must be one of"):
        calipers.ece(p, y, binning="mass", compat="torchmetrics")
    with pytest.raises(ValueError, match="no debiased estimator"):
        calipers.ece(p, y, norm="l2", debiased=True, compat="netcal")
    with pytest.raises(ValueError, match="mode must be 'top-label'"):
        calipers.ece([[0.2, 0.8]], [1], mode="marginal", compat="torchmetrics")
    with pytest.raises(ValueError, match="sample_weight is not available with compat='netcal'"):
        calipers.ece(p, y, sample_weight=[1, 2], compat="netcal")


# ----------------------------------------------------------------------- live, when installed


def test_live_torchmetrics_and_its_kernels(real_outputs):  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    for bins in range(1, 600):  # torch.linspace's fused multiply-add rounding, both dtypes
        for dtype, name in ((torch.float32, "float32"), (torch.float64, "float64")):
            ref = torch.linspace(0, 1, bins + 1, dtype=dtype).numpy()
            np.testing.assert_array_equal(compat.torchmetrics_edges(bins, name), ref)
    rng = np.random.default_rng(5)
    for n in list(range(1, 140)) + [1000, 4097]:  # torch.sum's float32 reduction order
        x = (rng.random(n) * rng.random(n) ** 4).astype(np.float32)
        assert compat.torch_sum_float32(x) == np.float32(torch.from_numpy(x).sum().item())
    checked = 0
    for name, (P, y) in {**real_outputs, **{k: v for k, v in DATASETS.items() if "edges" in k}}.items():
        for bins in (3, 15, 31):
            for norm in ("l1", "l2", "max"):
                if P.ndim == 1:
                    ref = tm.binary_calibration_error(torch.from_numpy(P), torch.from_numpy(y), n_bins=bins, norm=norm)
                else:
                    ref = tm.multiclass_calibration_error(
                        torch.from_numpy(P), torch.from_numpy(y), num_classes=P.shape[1], n_bins=bins, norm=norm
                    )
                got = calipers.ece(P, y, bins=bins, norm=norm, compat="torchmetrics")
                rec = {"compat": "torchmetrics", "norm": norm}
                assert _agrees(rec, got, float(ref), P), (name, bins, norm, got, float(ref))
                checked += 1
    assert checked >= 7 * 9


def test_live_netcal(real_outputs):  # type: ignore[no-untyped-def]
    metrics = pytest.importorskip("netcal.metrics")
    classes = {"l1": metrics.ECE, "max": metrics.MCE, "average": metrics.ACE}
    checked = 0
    for name, (P, y) in real_outputs.items():
        for X in (P, P.astype(np.float32)):
            for bins in (5, 20):
                for binning in ("width", "mass"):
                    for norm, cls in classes.items():
                        try:
                            ref = cls(bins=bins, equal_intervals=binning == "width").measure(X, y)
                        except (ValueError, RuntimeError):
                            with pytest.raises(ValueError, match="netcal"):
                                calipers.ece(X, y, bins=bins, binning=binning, norm=norm, compat="netcal")
                            continue
                        got = calipers.ece(X, y, bins=bins, binning=binning, norm=norm, compat="netcal")
                        assert got == pytest.approx(ref, abs=1e-12, rel=1e-12), (name, X.dtype, bins, binning, norm)
                        checked += 1
    assert checked >= 100
