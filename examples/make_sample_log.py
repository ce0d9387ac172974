"""Regenerate python/calipers/data/sample_predictions.jsonl: real model outputs.

A logistic regression on scikit-learn's bundled breast-cancer data (569 tumours), scored
out of fold with 5-fold cross-validation; each row is one prediction as an inference
server would log it: an id, the predicted P(malignant) and the observed label.
"""

import json
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
y = 1 - y  # 1 = malignant
model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
p = cross_val_predict(model, X, y, cv=5, method="predict_proba")[:, 1]
out = Path(__file__).resolve().parents[1] / "python" / "calipers" / "data" / "sample_predictions.jsonl"
with open(out, "w") as fh:
    for i, (score, label) in enumerate(zip(p, y)):
        fh.write(json.dumps({"id": i, "score": round(float(score), 6), "label": int(label)}) + "\n")
print(f"wrote {len(y)} rows to {out}")
