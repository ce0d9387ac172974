"""SDM on a scikit-learn model's hidden layer: an MLP on the digits data, its hidden
activations as embeddings and its pre-softmax outputs as logits.

    python examples/sdm_hidden_layer.py
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from calipers import SDMEstimator


def hidden_and_logits(mlp: MLPClassifier, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last hidden layer (ReLU) and the output layer before the softmax."""
    h = X
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        h = np.maximum(h @ W + b, 0.0)
    return h.astype(np.float32), h @ mlp.coefs_[-1] + mlp.intercepts_[-1]


def main(seed: int = 1, alpha: float = 0.9) -> dict[str, float]:
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    # three disjoint splits (40/40/20): the model and the support set, calibration, test
    X_tr, X_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.6, random_state=seed, stratify=y)
    X_ca, X_te, y_ca, y_te = train_test_split(X_rest, y_rest, test_size=1 / 3, random_state=seed, stratify=y_rest)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed).fit(X_tr, y_tr)

    sdm = SDMEstimator(alpha=alpha).fit(*hidden_and_logits(mlp, X_tr), y_tr, *hidden_and_logits(mlp, X_ca), y_ca)
    out = sdm.predict(*hidden_and_logits(mlp, X_te))

    correct = out.prediction == y_te
    admitted = out.is_high_reliability_lower
    summary = {
        "accuracy (all test points)": float(correct.mean()),
        "admitted to the high-reliability region (lower)": float(admitted.mean()),
        "accuracy inside the region": float(correct[admitted].mean()) if admitted.any() else float("nan"),
        "accuracy outside it": float(correct[~admitted].mean()) if (~admitted).any() else float("nan"),
        "flagged out of distribution": float(out.is_ood.mean()),
        "q'_min": sdm.q_prime_min,
    }
    for name, value in summary.items():
        print(f"{name:>48s}: {value:.3f}")
    return summary


if __name__ == "__main__":
    main()
