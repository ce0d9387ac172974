"""calipers in a FastAPI service under uvicorn: calibrate every prediction, monitor it live.

    pip install 'calipers[monitor,sklearn]'
    python examples/serve_fastapi.py --port 8000 [--host 127.0.0.1] [--window 60] [--no-monitor]

At start-up a GaussianNB (confident, and miscalibrated) is trained on scikit-learn's breast
cancer data set, and a calipers IsotonicCalibration is fitted on a held-out third.

    POST /predict  {"row": 17}  or  {"features": [30 numbers]}  [, "group": "web"]
                   -> {"id": "3f2a...", "score": 0.999, "calibrated": 0.93}
    POST /feedback {"id": "3f2a...", "label": 1}   the outcome of that prediction, joined by id
    POST /feedback {"score": 0.83, "label": 1}     a (score, outcome) pair known at once
    GET  /metrics       Prometheus text (calipers_ece, calipers_ece_upper, calipers_pending, ...)
    GET  /calibration   JSON: "count" (outcomes recorded) and the monitor's snapshot
    GET  /sketch        ReliabilitySketch bytes (?format=monitor: the whole monitor, to merge)

The monitor sees the calibrated scores the service returns, so its ECE is the calibration
of what clients get, and (calibrator=True) the expected accuracy of each window is
estimated from those scores before any label arrives. ``row`` indexes the whole data set,
so a load generator knows every outcome.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

import calipers
from calipers.monitor import calibration_app


class PredictIn(BaseModel):
    row: int | None = None
    features: list[float] | None = None
    group: str | None = None


class FeedbackIn(BaseModel):
    id: str | None = None
    score: float | None = None
    label: int


def train() -> tuple[Any, Any, np.ndarray]:
    """The model, its calibrator (fitted on held-out rows) and the data set's features."""
    X, y = load_breast_cancer(return_X_y=True)
    X_fit, X_cal, y_fit, y_cal = train_test_split(X, y, test_size=1 / 3, random_state=0, stratify=y)
    model = GaussianNB().fit(X_fit, y_fit)
    calibrator = calipers.IsotonicCalibration().fit(model.predict_proba(X_cal)[:, 1], y_cal)
    return model, calibrator, X


def make_app(monitor: calipers.CalibrationMonitor | None = None, *, window: float = 60.0) -> FastAPI:
    """The service; ``monitor=None`` builds one, ``monitor=False`` runs without (for benchmarks)."""
    model, calibrator, X = train()
    if monitor is None:
        monitor = calipers.CalibrationMonitor(
            window=window, history=60, replicates=200, thresholds={"ece": 0.1}, calibrator=True
        )
    app = FastAPI(title="calipers example service")

    @app.post("/predict")
    def predict(req: PredictIn) -> dict[str, Any]:  # sync: FastAPI runs it in its thread pool
        if (req.row is None) == (req.features is None):
            raise HTTPException(422, "give exactly one of row and features")
        if req.row is not None:
            if not 0 <= req.row < len(X):
                raise HTTPException(422, f"row must lie in [0, {len(X)})")
            x = X[req.row : req.row + 1]
        else:
            x = np.asarray(req.features, np.float64).reshape(1, -1)
            if x.shape[1] != X.shape[1] or not np.isfinite(x).all():
                raise HTTPException(422, f"features must be {X.shape[1]} finite numbers")
        score = float(model.predict_proba(x)[0, 1])
        calibrated = float(calibrator.transform(np.array([score]))[0])
        request_id = uuid.uuid4().hex
        if monitor:
            monitor.predicted(request_id, calibrated, group=req.group)
        return {"id": request_id, "score": score, "calibrated": calibrated}

    @app.post("/feedback")
    def feedback(req: FeedbackIn) -> dict[str, Any]:
        if not monitor:
            return {"recorded": False}
        try:
            if req.id is not None:
                return {"joined": monitor.observed(req.id, req.label)}
            if req.score is None:
                raise HTTPException(422, "give id or score with the label")
            monitor.record(req.score, req.label)
            return {"recorded": True}
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None

    if monitor:
        app.mount("/", calibration_app(monitor))  # GET /metrics, /calibration, /sketch
    return app


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per monitoring window")
    ap.add_argument("--no-monitor", action="store_true", help="serve without the monitor (to measure its cost)")
    args = ap.parse_args()
    app = make_app(False if args.no_monitor else None, window=args.window)  # type: ignore[arg-type]
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
