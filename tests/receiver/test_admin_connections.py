"""The admin HTTP server bounds what clients can hold: idle connections time out, threads are
capped, and /livez still answers while idle clients hold connections open."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Iterator

import pytest
from prometheus_client.registry import CollectorRegistry

from queue_collector.admin_http import AdminHttpServer
from queue_collector.config import AdminConfig
from queue_collector.health.report import HealthMonitor
from tests.support.timing import wait_until

MAX_CONNECTIONS = 4


def connection_threads(server: AdminHttpServer) -> int:
    name = f"queue-collector-admin-http-connection:{server.port}"
    return sum(1 for thread in threading.enumerate() if thread.name == name)


def get(server: AdminHttpServer, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def start_server(readiness=lambda: (True, "ready"), **limits) -> AdminHttpServer:
    server = AdminHttpServer(
        AdminConfig(endpoint="127.0.0.1:0"), CollectorRegistry(), HealthMonitor([]), readiness, **limits
    )
    server.start()
    return server


@pytest.fixture
def idle_sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_idle_and_slow_clients_do_not_pile_up_threads_or_block_livez(idle_sockets):
    server = start_server(max_connections=MAX_CONNECTIONS)
    try:
        for index in range(5 * MAX_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if index % 2:
                sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            idle_sockets.append(sock)
        # Connections are accepted in order, so once this is answered every idle one was seen.
        assert get(server, "/livez") == (200, b'{\n  "status": "alive"\n}\n')
        wait_until(lambda: connection_threads(server) <= MAX_CONNECTIONS, message="connection threads to be capped")
        assert get(server, "/livez")[0] == 200
    finally:
        server.stop()


def test_a_silent_connection_is_closed_after_the_timeout(idle_sockets):
    server = start_server(connection_timeout_seconds=0.2)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        idle_sockets.append(sock)
        sock.sendall(b"GET /livez HTTP/1.1\r\n")
        assert sock.recv(1024) == b""  # the server hung up; without a timeout this would wait
        assert get(server, "/livez")[0] == 200
    finally:
        server.stop()


def test_when_every_connection_is_busy_a_new_one_is_answered_503():
    release = threading.Event()
    waiting = []

    def slow_readiness() -> tuple[bool, str]:
        waiting.append(1)
        release.wait(10)
        return True, "ready"

    server = start_server(readiness=slow_readiness, max_connections=2)
    busy = [threading.Thread(target=get, args=(server, "/readyz")) for _ in range(2)]
    try:
        for thread in busy:
            thread.start()
        wait_until(lambda: len(waiting) == 2, message="both connections to be answering")
        status, body = get(server, "/livez")
        assert status == 503 and b"too many connections" in body
    finally:
        release.set()
        for thread in busy:
            thread.join(10)
        server.stop()


def test_stop_closes_idle_connections(idle_sockets):
    server = start_server()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    idle_sockets.append(sock)
    assert get(server, "/livez")[0] == 200  # the idle connection was accepted before this one
    server.stop()
    assert sock.recv(1024) == b""
