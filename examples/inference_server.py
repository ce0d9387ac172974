"""calipers inside an inference server: calibrate every response, watch calibration live.

    python examples/inference_server.py --port 8000 [--calibrator cal.json]

    POST /predict   {"score": 0.83}                  -> {"score": 0.83, "calibrated": 0.77}
    POST /feedback  {"score": 0.83, "label": 1}      (the outcome, when it is known)
    GET  /metrics                                     -> ECE, smooth ECE, Brier, ... and a 95% interval
    GET  /sketch                                      -> the sketch bytes, to merge across replicas

The no-dependency variant of examples/serve_fastapi.py (http.server, which starts a
thread per request). Feedback goes to one calipers.CalibrationMonitor: each thread appends
to a buffer the monitor owns, flushed exactly in batches and whenever /metrics reads, and
the buffers of finished threads are dropped once drained, so memory stays bounded however
many threads the server starts. `calipers merge` combines the /sketch bytes of many
replicas. The calibrator is immutable once fitted, so every thread shares one.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import calipers


def make_server(
    port: int, calibrator: Any = None, monitor: calipers.CalibrationMonitor | None = None
) -> ThreadingHTTPServer:
    monitor = monitor or calipers.CalibrationMonitor(replicates=200)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                score = float(body["score"])
                if self.path == "/predict":
                    calibrated = calibrator.transform(score) if calibrator is not None else score
                    self._send(200, {"score": score, "calibrated": float(calibrated)})
                elif self.path == "/feedback":
                    monitor.record(score, int(body["label"]))
                    self._send(204, b"")
                else:
                    self._send(404, {"error": f"no route {self.path}"})
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": str(exc)})

        def do_GET(self) -> None:
            sketch = monitor.sketch()  # every window of the ring, exactly merged
            if self.path == "/metrics":
                out: dict[str, Any] = {"count": sketch.count}
                if sketch.count:
                    out.update({k: (None if v != v else v) for k, v in sketch.metrics().items()})
                    ci = sketch.ece_interval()
                    out["ece_interval_95"] = [ci.low, ci.high]
                self._send(200, out)
            elif self.path == "/sketch":
                self._send(200, sketch.to_bytes(), "application/octet-stream")
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--calibrator", default=None, help="a calibrator JSON written by `calipers fit`")
    args = ap.parse_args()
    calibrator = None
    if args.calibrator:
        with open(args.calibrator, encoding="utf-8") as fh:
            calibrator = calipers.Calibrator.from_json(fh.read())
    server = make_server(args.port, calibrator)
    print(f"serving on http://127.0.0.1:{server.server_address[1]}")
    server.serve_forever()


if __name__ == "__main__":
    main()
