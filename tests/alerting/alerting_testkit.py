"""Real servers on 127.0.0.1 for the alerting tests: an HTTP server that records what it is
sent (webhook, Slack, PagerDuty), and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class RecordingHttpServer:
    """Answers every POST with ``status_for(path)`` (default 202) and records it."""

    requests: list[Received] = field(default_factory=list)
    #: path -> list of statuses to answer in turn (the last one repeats).
    statuses: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        recorder = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                with recorder._lock:
                    recorder.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    answers = recorder.statuses.get(self.path, [202])
                    status = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [item for item in self.requests if item.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _MailHandler:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd naming)
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1 and a free port; ``messages`` are the envelopes received."""

    def __init__(self) -> None:
        self.handler = _MailHandler()
        self.port = free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    @property
    def messages(self) -> list:
        return self.handler.messages

    def close(self) -> None:
        self._controller.stop()


def closed_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/hook"
