"""Write the peers' calibration errors that tests/test_compat_peers.py checks
``ece(..., compat="torchmetrics")`` and ``ece(..., compat="netcal")`` against.

The values come from the real packages: torchmetrics 1.9.0 on torch 2.13.0 (CPU build,
AVX-512 kernels) and netcal 1.4.0 (numpy 2.4, scipy 1.17). CI does not install them (torch
alone is a large download, and a plain ``pip install torchmetrics`` pulls a CUDA build), so
the values are stored here; when the packages are installed the tests also compare with
them live. Run from the repository root:

    python tests/data/make_peer_values.py

It writes ``tests/data/sklearn_model_outputs.npz`` (scikit-learn models' probabilities, so
the inputs do not depend on the scikit-learn version that runs the tests),
``tests/data/peer_edge_cases.npz`` (scores on bin edges, at 0 and 1, float32, logits) and
``tests/data/peer_calibration_errors.json`` (one record per dataset and setting: the value,
or the name of the exception the reference raised).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent
sys.path.insert(0, str(DATA.parent))  # tests/: the shared real-data loaders

from real_data import peer_datasets, sklearn_outputs  # noqa: E402

BINS = (10, 15, 100)
NETCAL_BINS = (10, 15)


def edge_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Binary scores on every edge of 10 and 15 bins, at exactly 0 and 1, in float64 and
    float32; logits (outside [0, 1]: torchmetrics applies a sigmoid / softmax)."""
    rng = np.random.default_rng(14)
    edges = np.unique(np.concatenate([np.arange(11) / 10, np.arange(16) / 15, [0.0, 1.0, 0.3, 0.55]]))
    p = np.concatenate([np.repeat(edges, 7), rng.random(3000), np.ones(40), np.zeros(25)])
    y = (rng.random(p.size) < p).astype(np.int64)
    z = rng.normal(size=(2000, 5)) * 3
    return {
        "edges-f64": (p, y),
        "edges-f32": (p.astype(np.float32), y),
        "logits-binary": (rng.normal(size=3000) * 2, (rng.random(3000) < 0.4).astype(np.int64)),
        "logits-5class": (z, rng.integers(0, 5, 2000)),
    }


def torchmetrics_value(P: np.ndarray, y: np.ndarray, bins: int, norm: str) -> float:
    import torch
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    if P.ndim == 1:
        return float(binary_calibration_error(torch.from_numpy(P), torch.from_numpy(y), n_bins=bins, norm=norm))
    return float(
        multiclass_calibration_error(
            torch.from_numpy(P), torch.from_numpy(y), num_classes=P.shape[1], n_bins=bins, norm=norm
        )
    )


def netcal_value(P: np.ndarray, y: np.ndarray, bins: int, binning: str, norm: str) -> float:
    from netcal.metrics import ACE, ECE, MCE

    cls = {"l1": ECE, "max": MCE, "average": ACE}[norm]
    return float(cls(bins=bins, equal_intervals=binning == "width").measure(P, y))


def record(fn, *args) -> float | str:  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except Exception as exc:  # the reference refused the input: keep the exception's name
        return type(exc).__name__


def main() -> None:
    import netcal
    import torch
    import torchmetrics

    sk = sklearn_outputs()
    np.savez_compressed(
        DATA / "sklearn_model_outputs.npz",
        **{f"{k}-probs": v[0] for k, v in sk.items()},
        **{f"{k}-labels": v[1] for k, v in sk.items()},
    )
    ed = edge_cases()
    np.savez_compressed(
        DATA / "peer_edge_cases.npz",
        **{f"{k}-scores": v[0] for k, v in ed.items()},
        **{f"{k}-labels": v[1] for k, v in ed.items()},
    )
    records = []
    for name, (P, y) in peer_datasets().items():
        for bins in BINS:
            for norm in ("l1", "l2", "max"):
                value = record(torchmetrics_value, P, y, bins, norm)
                records.append({"data": name, "compat": "torchmetrics", "bins": bins, "norm": norm, "value": value})
        if name.startswith("logits"):
            continue  # netcal takes probabilities (it would clip the logits)
        for bins in NETCAL_BINS:
            for binning in ("width", "mass"):
                for norm in ("l1", "max", "average"):
                    value = record(netcal_value, P, y, bins, binning, norm)
                    rec = {"data": name, "compat": "netcal", "bins": bins, "binning": binning, "norm": norm}
                    records.append({**rec, "value": value})
    doc = {
        "made_by": "tests/data/make_peer_values.py",
        "versions": {
            "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torchmetrics": torchmetrics.__version__,
            "netcal": netcal.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "records": records,
    }
    (DATA / "peer_calibration_errors.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(records)} reference values")


if __name__ == "__main__":
    main()
