"""The admin HTTP server: /metrics, /health, /health/{service}, /health/{service}/{queue},
/livez, /readyz (and /alerts when alerting runs).

Built on the standard library's ThreadingHTTPServer: each request is served on its own daemon
thread, reading shared state through thread-safe objects (the private Prometheus registry, the
health monitor's cached report, the readiness callback). Unknown paths get a 404 JSON body.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from queue_collector.config import AdminConfig
from queue_collector.endpoints import AddressBindError, parse_listen_address
from queue_collector.health.checks import HealthStatus
from queue_collector.health.report import HealthMonitor

__all__ = ["AdminHttpServer", "ADMIN_PATHS"]

_logger = logging.getLogger(__name__)

#: The paths served, listed in 404 answers.
ADMIN_PATHS = ("/metrics", "/health", "/health/{service}", "/health/{service}/{queue}", "/livez", "/readyz")


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class AdminHttpServer:
    """Serves the admin endpoints on a background thread.

    ``readiness`` returns ``(ready, reason)``; /readyz answers 200 when ready, else 503 with
    the reason. ``alerts`` (when given) returns the /alerts document. :meth:`start` binds (raising AddressBindError naming the address) and returns
    the bound port; :meth:`stop` blocks until the serving thread has ended.
    """

    def __init__(
        self,
        config: AdminConfig,
        registry: CollectorRegistry,
        health: HealthMonitor,
        readiness: Callable[[], tuple[bool, str]],
        alerts: Callable[[], dict] | None = None,
    ) -> None:
        self._address = parse_listen_address(config.endpoint)
        self._registry = registry
        self._health = health
        self._readiness = readiness
        self._alerts = alerts
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the bound server."""
        host = f"[{self._address.host}]" if ":" in self._address.host else self._address.host
        return f"http://{host}:{self.port if self.port is not None else self._address.port}"

    def start(self) -> int:
        handler = _make_handler(self)
        try:
            server_class = _ThreadingServer6 if ":" in self._address.host else _ThreadingServer
            self._server = server_class((self._address.host, self._address.port), handler)
        except OSError as error:
            raise AddressBindError(
                f"cannot listen for admin HTTP on {self._address}: {error.strerror or error} "
                "(choose another with --admin-endpoint)"
            ) from error
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="queue-collector-admin-http", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None

    # --- responses ----------------------------------------------------------------------------

    def respond(self, path: str, accept: str | None) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of ``path``. Never raises for bad input."""
        if path == "/metrics":
            encoder, content_type = choose_encoder(accept or "")
            return HTTPStatus.OK, content_type, encoder(self._registry)
        if path == "/livez":
            return _json(HTTPStatus.OK, {"status": "alive"})
        if path == "/readyz":
            ready, reason = self._readiness()
            if ready:
                return _json(HTTPStatus.OK, {"status": "ready"})
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "not ready", "reason": reason})
        if path == "/alerts" and self._alerts is not None:
            return _json(HTTPStatus.OK, self._alerts())
        if path in ("/health", "/health/"):
            document = self._health.report().to_json()
            return _json(_health_code(document["status"]), document)
        if path.startswith("/health/"):
            # Split before unquoting, so a name may carry an encoded slash (%2F).
            raw_service, slash, raw_queue = path[len("/health/"):].partition("/")
            service, queue = unquote(raw_service), unquote(raw_queue)
            report = self._health.report()
            if slash and queue:
                document = report.queue_json(service, queue)
                if document is None:
                    known = (report.service_json(service) or {}).get("queues", {})
                    return _json(
                        HTTPStatus.NOT_FOUND,
                        {"error": "unknown queue", "service": service, "queue": queue,
                         "known_queues": sorted(known)},
                    )
                return _json(_health_code(document["status"]), document)
            document = report.service_json(service)
            if document is None:
                return _json(
                    HTTPStatus.NOT_FOUND,
                    {"error": "unknown service", "service": service, "known_services": report.services()},
                )
            return _json(_health_code(document["status"]), document)
        return _json(HTTPStatus.NOT_FOUND, {"error": "not found", "path": path, "endpoints": list(ADMIN_PATHS)})


def _health_code(status: str) -> int:
    return HTTPStatus.SERVICE_UNAVAILABLE if status == HealthStatus.UNHEALTHY.value else HTTPStatus.OK


def _json(code: int, document: Any) -> tuple[int, str, bytes]:
    return code, "application/json", (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _make_handler(server: AdminHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "queue-collector"

        def _answer(self, include_body: bool) -> None:
            path = urlsplit(self.path).path
            try:
                code, content_type, body = server.respond(path, self.headers.get("Accept"))
            except Exception:
                _logger.exception("admin HTTP %s failed", path)
                code, content_type, body = _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if include_body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            self._answer(include_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(include_body=False)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            _logger.debug("admin HTTP %s: " + format, self.client_address[0], *args)

    return Handler
