"""An ASGI app exposing a CalibrationMonitor: mount it in FastAPI/Starlette or serve it alone.

Routes (GET or HEAD):

- ``/metrics``: Prometheus text exposition of :class:`PrometheusCollector` (needs
  prometheus_client, extra ``monitor``);
- ``/calibration``: the :meth:`CalibrationMonitor.snapshot` as JSON (``?last=N`` windows,
  ``?closed=1``, ``?smooth=0`` to leave out the smooth ECE, which costs milliseconds per
  group), whose ``count`` is the number of outcomes recorded;
- ``/sketch``: ``ReliabilitySketch.to_bytes()`` of ``sketch(last, group)`` (``?last=N``,
  ``?group=KEY``), or the whole monitor's bytes with ``?format=monitor`` (to merge replicas,
  e.g. with ``calipers merge``).

Plain ASGI 3 (no framework needed); the work runs in a thread so the event loop is free.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from .._common.optional import require
from .core import CalibrationMonitor
from .prometheus import PrometheusCollector

__all__ = ["calibration_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_DECIMAL = re.compile(r"[0-9]+", re.ASCII)
_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)


def _last(query: dict[str, list[str]]) -> int | None:
    raw = query.get("last", [None])[0]
    if raw is None or raw == "":
        return None
    if not _DECIMAL.fullmatch(raw):  # int() also takes '1_0', '+10', ' 10 ' and full-width digits
        raise _HTTPError(400, f"last must be a positive integer, got {raw!r}")
    value = int(raw)
    if value < 1:
        raise _HTTPError(400, f"last must be a positive integer, got {raw!r}")
    return value


def _group(monitor: CalibrationMonitor, raw: str | None) -> Any:
    if raw is None:
        return None
    keys = monitor.groups
    if raw in keys:
        return raw
    as_int = int(raw) if _INTEGER.fullmatch(raw) else None  # the text an integer key is shown as
    if as_int is not None and str(as_int) == raw and as_int in keys:
        return as_int
    raise _HTTPError(404, f"no group {raw!r}")


def _respond(monitor: CalibrationMonitor, route: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
    if route == "/metrics":
        client = require("prometheus_client", "the /metrics route")
        registry = client.CollectorRegistry(auto_describe=False)
        registry.register(PrometheusCollector(monitor))
        return 200, client.CONTENT_TYPE_LATEST, client.generate_latest(registry)
    if route == "/calibration":
        closed = query.get("closed", ["0"])[0] in ("1", "true", "yes")
        smooth = query.get("smooth", ["1"])[0] not in ("0", "false", "no")
        snap = monitor.snapshot(_last(query), closed=closed, smooth=smooth)
        return 200, "application/json", json.dumps(snap).encode()
    if route == "/sketch":
        if query.get("format", ["sketch"])[0] == "monitor":
            return 200, "application/octet-stream", monitor.to_bytes()
        sketch = monitor.sketch(_last(query), _group(monitor, query.get("group", [None])[0]))
        return 200, "application/octet-stream", sketch.to_bytes()
    raise _HTTPError(404, f"no route {route}")


def calibration_app(monitor: CalibrationMonitor) -> ASGIApp:
    """An ASGI 3 application serving ``monitor`` at ``/metrics``, ``/calibration`` and
    ``/sketch`` (relative to where it is mounted)."""
    if not isinstance(monitor, CalibrationMonitor):
        raise TypeError(f"monitor must be a CalibrationMonitor, got {type(monitor).__name__}")

    async def app(
        scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    monitor.flush()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, root = scope.get("path", "/"), scope.get("root_path", "")
        route = path[len(root) :] if root and path.startswith(root) else path
        route = route.rstrip("/") or "/"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            status, ctype, body = 405, "text/plain; charset=utf-8", b"method not allowed\n"
        else:
            try:
                loop = asyncio.get_running_loop()
                status, ctype, body = await loop.run_in_executor(None, _respond, monitor, route, query)
            except _HTTPError as exc:
                status, ctype, body = exc.status, "text/plain; charset=utf-8", (str(exc) + "\n").encode()
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return app
