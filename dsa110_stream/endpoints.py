"""Health and Prometheus endpoints shared by the producer and the consumer.

One small HTTP server per process: ``/metrics`` (Prometheus text format from
prometheus-client), ``/healthz`` (liveness) and ``/readyz`` (readiness). Kubernetes probes
use the last two; each answers 200 or 503 with the service's own JSON detail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


@dataclass(frozen=True)
class Health:
    """A service's answer to "are you alive, are you ready?" with details for humans."""

    live: bool
    ready: bool
    detail: dict[str, Any] = field(default_factory=dict)


class EndpointServer:
    """A running endpoint server; :meth:`close` stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_endpoints(
    host: str,
    port: int,
    health: Callable[[], Health],
    registry: CollectorRegistry = REGISTRY,
) -> EndpointServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` in a daemon thread.

    ``port=0`` picks a free port (see :attr:`EndpointServer.port`).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif self.path in ("/healthz", "/readyz"):
                status = health()
                ok = status.live if self.path == "/healthz" else status.ready
                body = {"live": status.live, "ready": status.ready, **status.detail}
                payload = json.dumps(body, default=str).encode()
                self._send(200 if ok else 503, "application/json", payload)
            else:
                self._send(404, "text/plain", b"not found: try /metrics, /healthz, /readyz\n")

        def _send(self, code: int, content_type: str, payload: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes hit these endpoints every few seconds: keep them out of the logs."""

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="endpoints", daemon=True)
    thread.start()
    return EndpointServer(server, thread)
