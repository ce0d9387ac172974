"""Real model outputs shared by the tests and by tests/data/make_peer_values.py (which
fits the same scikit-learn models and stores their outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def sklearn_outputs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Breast-cancer and digits models (logistic regression, random forest, naive Bayes),
    each trained on half the data: name -> (P (n, K) on the other half, labels)."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xd, yd = load_digits(return_X_y=True)
    for name, (X, y) in {"cancer": (Xb, yb), "digits": (Xd, yd)}.items():
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
        models = {
            "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
            "rf": RandomForestClassifier(n_estimators=50, random_state=0),  # discrete, exact 0s and 1s
            "nb": GaussianNB(),  # saturated: many exact 0s and 1s
        }
        for mname, model in models.items():
            P = model.fit(Xtr, ytr).predict_proba(Xte)
            out[f"{name}-{mname}"] = (P, yte.astype(np.int64))
    return out


def peer_datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The inputs of the stored peer values: CIFAR-10 (float32 and float64), the stored
    scikit-learn outputs (and their 1-D P(class 1)) and the edge cases."""
    d = np.load(DATA / "cifar10_vgg16_test_probs.npz")
    out = {"cifar10-f32": (d["probs_float32"], d["labels"].astype(np.int64))}
    out["cifar10-f64"] = (d["probs_float32"].astype(np.float64), out["cifar10-f32"][1])
    sk = dict(np.load(DATA / "sklearn_model_outputs.npz"))
    for key in sorted(k[: -len("-probs")] for k in sk if k.endswith("-probs")):
        P, y = sk[key + "-probs"], sk[key + "-labels"]
        out[key] = (P, y)
        if P.shape[1] == 2:
            out[key + "-1d"] = (np.ascontiguousarray(P[:, 1]), y)
    ed = dict(np.load(DATA / "peer_edge_cases.npz"))
    for key in sorted(k[: -len("-scores")] for k in ed if k.endswith("-scores")):
        out[key] = (ed[key + "-scores"], ed[key + "-labels"])
    return out
