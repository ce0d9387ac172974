"""The runnable examples: the inference server over real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import load_example

import calipers


def _post(url: str, body: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_inference_server_calibrates_and_monitors():
    server_mod = load_example("inference_server")
    rng = np.random.default_rng(0)
    p_cal = rng.random(2000)
    y_cal = (rng.random(2000) < p_cal**2).astype(int)
    calibrator = calipers.PlattScaling().fit(p_cal, y_cal)
    server = server_mod.make_server(0, calibrator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        status, body = _post(base + "/predict", {"score": 0.8})
        assert status == 200 and json.loads(body)["calibrated"] == pytest.approx(calibrator.transform(0.8))
        p = rng.random(600)
        y = (rng.random(600) < p**2).astype(int)
        with ThreadPoolExecutor(8) as pool:  # many server threads, one sketch each
            codes = list(
                pool.map(lambda i: _post(base + "/feedback", {"score": p[i], "label": int(y[i])})[0], range(600))
            )
        assert set(codes) == {204}
        assert _post(base + "/feedback", {"score": 1.5, "label": 1})[0] == 400  # rejected, nothing recorded
        assert _post(base + "/feedback", {"label": 1})[0] == 400
        with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
            metrics = json.loads(resp.read())
        assert metrics["count"] == 600
        assert metrics["ece"] == pytest.approx(calipers.ece(p, y), abs=1e-12)
        assert metrics["ece_interval_95"][0] < metrics["ece"] < metrics["ece_interval_95"][1]
        with urllib.request.urlopen(base + "/sketch", timeout=10) as resp:
            sketch = calipers.ReliabilitySketch.from_bytes(resp.read())
        assert sketch.count == 600 and sketch.brier() == pytest.approx(calipers.brier(p, y), abs=1e-12)
    finally:
        server.shutdown()
        server.server_close()
