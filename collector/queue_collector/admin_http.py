"""The admin HTTP server: /metrics, /health, /health/{service}, /health/{service}/{queue},
/livez, /readyz (and /alerts when alerting runs).

Built on the standard library's ThreadingHTTPServer: each connection is served on its own
daemon thread, reading shared state through thread-safe objects (the private Prometheus
registry, the health monitor's cached report, the readiness callback). Unknown paths get a 404
JSON body.

Clients cannot pile up threads: a connection silent for ``connection_timeout_seconds`` is
closed, at most ``max_connections`` are served at once, and a new connection beyond that takes
the place of the oldest idle one (connected but not being answered), so /livez and /readyz
still answer while idle or slow clients hold connections open. Only when every connection is
busy answering is a new one answered 503 at once.
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
from queue_collector.health.report import HealthMonitor, HealthReport

__all__ = [
    "AdminHttpServer",
    "ADMIN_PATHS",
    "CONNECTION_TIMEOUT_SECONDS",
    "MAX_CONNECTIONS",
    "KNOWN_NAMES_SHOWN",
]

_logger = logging.getLogger(__name__)

#: Seconds a connection may stay silent (no request yet, a request sent too slowly, or a
#: client that does not read the answer) before the server closes it.
CONNECTION_TIMEOUT_SECONDS = 10.0

#: Connections served at once, each on its own thread.
MAX_CONNECTIONS = 64

#: Connections the kernel queues until the server accepts them.
_LISTEN_BACKLOG = 128

#: How long a new connection beyond ``max_connections`` waits for the slot of the idle
#: connection closed for it, before it is answered 503.
_SLOT_WAIT_SECONDS = 1.0

#: The thread serving one connection (followed by ``:PORT`` of the server).
_CONNECTION_THREAD_NAME = "queue-collector-admin-http-connection"

#: A 404 for an unknown service or queue names at most this many of the known ones.
KNOWN_NAMES_SHOWN = 20

#: /health is indented for reading up to this many services; beyond, it is written compactly
#: (indenting is several times slower and the document is too long to read anyway).
_PRETTY_HEALTH_SERVICES = 1000

#: The paths served, listed in 404 answers.
ADMIN_PATHS = ("/metrics", "/health", "/health/{service}", "/health/{service}/{queue}", "/livez", "/readyz")

_BUSY_BODY = b'{"error": "too many connections"}\n'
_BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode("ascii") + b"\r\n"
    b"Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + _BUSY_BODY
)


class _BoundedThreadingServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with at most ``max_connections`` connection threads.

    Keeps every open connection with whether it is being answered; a connection beyond the
    limit shuts the oldest idle one down (its thread sees end of input and ends) and takes its
    slot.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = _LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self._connections_lock = threading.Lock()
        #: Open connections, oldest first: True while one of its requests is being answered.
        self._connections: dict[socket.socket, bool] = {}
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            self._close_oldest_idle()
            if not self._slots.acquire(timeout=_SLOT_WAIT_SECONDS):
                _answer_busy(request)
                self.shutdown_request(request)
                return
        with self._connections_lock:
            self._connections[request] = False
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address),
            name=f"{_CONNECTION_THREAD_NAME}:{self.server_address[1]}", daemon=True,
        )
        try:
            thread.start()
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: socket.socket) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        self._slots.release()

    def set_answering(self, request: socket.socket, answering: bool) -> bool:
        """Marks a connection busy or idle; False when it was already closed to make room."""
        with self._connections_lock:
            if request not in self._connections:
                return False
            self._connections[request] = answering
            return True

    def _close_oldest_idle(self) -> None:
        with self._connections_lock:
            idle = next((conn for conn, answering in self._connections.items() if not answering), None)
            if idle is None:
                return
            self._connections[idle] = True  # not chosen twice; its thread forgets it on exit
        _logger.debug("admin HTTP: closing an idle connection to serve a new one")
        _shut_down(idle)

    def close_idle_connections(self) -> None:
        """Shuts down every idle connection (at stop), so their threads end now."""
        with self._connections_lock:
            idle = [conn for conn, answering in self._connections.items() if not answering]
        for connection in idle:
            _shut_down(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish or time out mid-answer are routine; anything else is a bug.
        _logger.debug("admin HTTP connection from %s ended with an error", client_address, exc_info=True)


class _BoundedThreadingServer6(_BoundedThreadingServer):
    address_family = socket.AF_INET6


def _shut_down(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the client


def _answer_busy(connection: socket.socket) -> None:
    """Answers 503 without blocking the accepting thread; a client that does not read it
    simply sees the connection close."""
    try:
        connection.setblocking(False)
        try:
            connection.recv(65536)  # what the client already sent, so closing does not reset
        except BlockingIOError:
            pass
        connection.send(_BUSY_ANSWER)
    except OSError:
        pass


class AdminHttpServer:
    """Serves the admin endpoints on a background thread.

    ``readiness`` returns ``(ready, reason)``; /readyz answers 200 when ready, else 503 with
    the reason. ``alerts`` (when given) returns the /alerts document. ``connection_timeout_seconds``
    and ``max_connections`` bound what clients can hold (see the module docstring).
    :meth:`start` binds (raising AddressBindError naming the address) and returns the bound
    port; :meth:`stop` closes idle connections and blocks until the serving thread has ended.
    """

    def __init__(
        self,
        config: AdminConfig,
        registry: CollectorRegistry,
        health: HealthMonitor,
        readiness: Callable[[], tuple[bool, str]],
        alerts: Callable[[], dict] | None = None,
        *,
        connection_timeout_seconds: float = CONNECTION_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if not connection_timeout_seconds > 0:
            raise ValueError(f"connection_timeout_seconds must be positive, got {connection_timeout_seconds}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._address = parse_listen_address(config.endpoint)
        self._registry = registry
        self._health = health
        self._readiness = readiness
        self._alerts = alerts
        self._connection_timeout_seconds = connection_timeout_seconds
        self._max_connections = max_connections
        self._health_answer: tuple[HealthReport, tuple[int, str, bytes]] | None = None
        self._health_answer_lock = threading.Lock()
        self._server: _BoundedThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the bound server."""
        host = f"[{self._address.host}]" if ":" in self._address.host else self._address.host
        return f"http://{host}:{self.port if self.port is not None else self._address.port}"

    def start(self) -> int:
        handler = _make_handler(self, self._connection_timeout_seconds)
        try:
            server_class = _BoundedThreadingServer6 if ":" in self._address.host else _BoundedThreadingServer
            self._server = server_class((self._address.host, self._address.port), handler, self._max_connections)
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
        self._server.close_idle_connections()
        if self._thread is not None:
            self._thread.join()
        self._server = None

    # --- responses ----------------------------------------------------------------------------

    def _whole_health_answer(self, report: HealthReport) -> tuple[int, str, bytes]:
        """The /health answer, encoded once per report and shared by every request until the
        monitor makes a new report."""
        with self._health_answer_lock:
            cached = self._health_answer
            if cached is not None and cached[0] is report:
                return cached[1]
            document = report.to_json()
            pretty = len(document["services"]) <= _PRETTY_HEALTH_SERVICES
            answer = _json(_health_code(document["status"]), document, pretty=pretty)
            self._health_answer = (report, answer)
            return answer

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
            return self._whole_health_answer(self._health.report())
        if path.startswith("/health/"):
            # Split before unquoting, so a name may carry an encoded slash (%2F).
            raw_service, slash, raw_queue = path[len("/health/"):].partition("/")
            service, queue = unquote(raw_service), unquote(raw_queue)
            report = self._health.report()
            if slash and queue:
                document = report.queue_json(service, queue)
                if document is None:
                    return _json(
                        HTTPStatus.NOT_FOUND,
                        {"error": "unknown queue", "service": service, "queue": queue,
                         **_known("queues", report.queues(service))},
                    )
                return _json(_health_code(document["status"]), document)
            document = report.service_json(service)
            if document is None:
                return _json(
                    HTTPStatus.NOT_FOUND,
                    {"error": "unknown service", "service": service, **_known("services", report.services())},
                )
            return _json(_health_code(document["status"]), document)
        return _json(HTTPStatus.NOT_FOUND, {"error": "not found", "path": path, "endpoints": list(ADMIN_PATHS)})


def _known(kind: str, names: list[str]) -> dict[str, Any]:
    """``known_KIND`` (the first :data:`KNOWN_NAMES_SHOWN` names, sorted) and ``known_KIND_total``
    for a 404 answer, so it stays small however many there are."""
    return {f"known_{kind}": names[:KNOWN_NAMES_SHOWN], f"known_{kind}_total": len(names)}


def _health_code(status: str) -> int:
    return HTTPStatus.SERVICE_UNAVAILABLE if status == HealthStatus.UNHEALTHY.value else HTTPStatus.OK


def _json(code: int, document: Any, pretty: bool = True) -> tuple[int, str, bytes]:
    text = json.dumps(document, indent=2) if pretty else json.dumps(document, separators=(",", ":"))
    return code, "application/json", (text + "\n").encode("utf-8")


def _make_handler(server: AdminHttpServer, connection_timeout_seconds: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "queue-collector"
        #: Socket timeout of every read and write (StreamRequestHandler applies it).
        timeout = connection_timeout_seconds

        def _answer(self, include_body: bool) -> None:
            connections: _BoundedThreadingServer = self.server  # type: ignore[assignment]
            if not connections.set_answering(self.request, True):
                self.close_connection = True  # closed to make room for a newer connection
                return
            try:
                self._write_answer(include_body)
            finally:
                connections.set_answering(self.request, False)

        def _write_answer(self, include_body: bool) -> None:
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
