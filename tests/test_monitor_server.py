"""The monitor's exports in servers: the ASGI app (alone and mounted in FastAPI), the
OpenTelemetry gauges, and the FastAPI example under uvicorn on loopback with concurrent
clients (slow)."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import calipers
from calipers import CalibrationMonitor, ReliabilitySketch
from calipers.monitor import calibration_app, register_gauges

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def _call(app, path: str, method: str = "GET", root_path: str = "") -> tuple[int, dict, bytes]:
    """Drive an ASGI app with one request; returns (status, headers, body)."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "query_string": query.encode(),
        "headers": [],
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent[0], sent[1]
    return start["status"], dict(start["headers"]), body["body"]


def _monitor() -> tuple[CalibrationMonitor, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.random(800)
    y = (rng.random(800) < p**2).astype(int)
    m = CalibrationMonitor(replicates=20, seed=0)
    m.record_many(p, y, groups=np.where(np.arange(800) % 2, "a", "b"))
    return m, p, y


def test_asgi_app_routes():
    m, p, y = _monitor()
    app = calibration_app(m)
    status, headers, body = _call(app, "/calibration")
    snap = json.loads(body)
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert snap["count"] == 800 and snap["overall"]["ece"] == pytest.approx(calipers.ece(p, y), abs=1e-12)
    assert set(snap["groups"]) == {"a", "b"}
    assert "smooth_ece" in snap["overall"] and "smooth_ece" in snap["groups"]["a"]
    lean = json.loads(_call(app, "/calibration?smooth=0")[2])
    assert "smooth_ece" not in lean["overall"] and lean["overall"]["ece"] == snap["overall"]["ece"]
    status, headers, body = _call(app, "/metrics")
    assert status == 200 and b"calipers_ece{" in body and headers[b"content-type"].startswith(b"text/plain")
    status, _, body = _call(app, "/sketch?group=a&last=5")
    assert status == 200 and ReliabilitySketch.from_bytes(body).count == 400
    status, _, body = _call(app, "/sketch?format=monitor")
    assert CalibrationMonitor.from_bytes(body).records_total == 800
    assert _call(app, "/sketch?group=zz")[0] == 404
    assert _call(app, "/calibration?last=0")[0] == 400
    assert _call(app, "/nothing")[0] == 404
    assert _call(app, "/metrics", method="POST")[0] == 405
    # mounted under a prefix (Starlette passes the prefix as root_path)
    assert _call(app, "/calibration", root_path="/monitor")[0] == 200
    with pytest.raises(TypeError):
        calibration_app(object())  # type: ignore[arg-type]


def test_mounted_in_fastapi():
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    from fastapi import FastAPI

    m, _, _ = _monitor()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    app.mount("/monitor", calibration_app(m))

    async def run() -> tuple[int, int, dict]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            cal = (await client.get("/monitor/calibration")).json()["count"]
            metrics = (await client.get("/monitor/metrics")).status_code
            return cal, metrics, (await client.get("/health")).json()

    assert asyncio.run(run()) == (800, 200, {"ok": True})


def test_opentelemetry_gauges():
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    m, p, y = _monitor()
    m.observed("missing", 1)
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    register_gauges(m, meter)
    data = reader.get_metrics_data()
    points = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for dp in metric.data.data_points:
                    points[(metric.name, tuple(sorted(dp.attributes.items())))] = dp.value
    assert points[("calipers.ece", (("group", "__all__"), ("window", "history")))] == pytest.approx(
        calipers.ece(p, y), abs=1e-12
    )
    assert points[("calipers.records", (("group", "a"),))] == 400
    assert points[("calipers.dropped", (("reason", "unknown"),))] == 1
    assert ("calipers.ece_upper", (("group", "b"), ("window", "history"))) in points
    with pytest.raises(ValueError):
        register_gauges(m, meter, window="week")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_fastapi_example_under_uvicorn_with_concurrent_clients():
    pytest.importorskip("uvicorn")
    httpx = pytest.importorskip("httpx")
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    _, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "serve_fastapi.py"), "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/calibration", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the example did not start: {server.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
        n = 400  # bounded: 400 predictions, 400 delayed outcomes, 100 known pairs

        def one(i: int) -> tuple[int, int, int]:
            with httpx.Client(base_url=base, timeout=20) as c:
                row = i % len(y)
                r = c.post("/predict", json={"row": row, "group": "ab"[i % 2]})
                rid = r.json()["id"]
                f = c.post("/feedback", json={"id": rid, "label": int(y[row])})
                k = 200
                if i < 100:
                    k = c.post("/feedback", json={"score": 0.5, "label": i % 2}).status_code
                return r.status_code, f.status_code if f.json() == {"joined": True} else -1, k

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(n)))
        assert all(r == (200, 200, 200) for r in results), results[:5]
        cal = httpx.get(base + "/calibration", timeout=20).json()
        assert cal["count"] == n + 100  # every feedback counted
        assert cal["overall"]["count"] == n + 100 and cal["pending"] == 0
        assert cal["groups"]["a"]["count"] + cal["groups"]["b"]["count"] == n
        assert cal["overall"]["ece_low"] <= cal["overall"]["ece"] <= cal["overall"]["ece_high"]
        assert cal["overall"]["expected_accuracy"] is not None
        assert httpx.post(base + "/feedback", json={"score": 1.5, "label": 1}).status_code == 422
        metrics = httpx.get(base + "/metrics", timeout=20).text
        assert f'calipers_records_total{{group="__all__"}} {float(n + 100)}' in metrics
        sketch = ReliabilitySketch.from_bytes(httpx.get(base + "/sketch", timeout=20).content)
        assert sketch.count == n + 100
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


def test_query_numbers_are_plain_ascii_decimals():
    """`/sketch?group=` and `last=` were read with int(): '1_0', '+10', '010' and full-width
    '１０' all named group 10 (adversarial pass 5)."""
    m = CalibrationMonitor()
    rng = np.random.default_rng(1)
    p = rng.random(40)
    m.record_many(p, (rng.random(40) < p).astype(int), groups=np.where(np.arange(40) % 2, 10, -3))
    app = calibration_app(m)
    assert _call(app, "/sketch?group=10")[0] == 200 and _call(app, "/sketch?group=-3")[0] == 200
    for raw in ("1_0", "%2B10", "010", "%EF%BC%91%EF%BC%90", "10.0"):
        assert _call(app, f"/sketch?group={raw}")[0] == 404, raw
    assert _call(app, "/calibration?last=2")[0] == 200
    for raw in ("%EF%BC%92", "1_0", "%2B2", "2.0"):
        assert _call(app, f"/calibration?last={raw}")[0] == 400, raw
