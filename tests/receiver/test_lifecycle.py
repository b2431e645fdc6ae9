"""The queue-collector process: start-up message, SIGTERM drains, port conflicts fail clearly."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from queue_collector.app import ReceiverApp
from queue_collector.config import AdminConfig
from queue_collector.endpoints import AddressBindError
from tests.support.timing import wait_until

from .conftest import make_spans, receiver_config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_collector(tmp_path, *arguments: str) -> tuple[subprocess.Popen, list[str]]:
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_collector", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path,
    )
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def test_sigterm_drains_and_exits_zero(tmp_path):
    otlp_port, admin_port = free_port(), free_port()
    traces = tmp_path / "out" / "traces.jsonl"
    traces.parent.mkdir()
    process, lines = start_collector(
        tmp_path, "--otlp-endpoint", f"127.0.0.1:{otlp_port}", "--admin-endpoint", f"127.0.0.1:{admin_port}",
        "--traces-file", str(traces),
    )
    try:
        wait_until(lambda: any("logs:" in line for line in lines), timeout=30, message="the start-up message")
        text = "".join(lines)
        assert f"http://127.0.0.1:{admin_port}/metrics" in text
        assert f"http://127.0.0.1:{admin_port}/health" in text
        assert str(traces) in text
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True)
        sent = 0
        for _ in range(10):
            assert exporter.export(make_spans(count=5)) is SpanExportResult.SUCCESS
            sent += 5
        exporter.shutdown()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    spans = [
        span
        for line in traces.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert len(spans) == sent
    assert "stopped" in process.stderr.read()


def test_port_in_use_fails_naming_the_address(tmp_path):
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        process = subprocess.run(
            [sys.executable, "-m", "queue_collector", "--otlp-endpoint", f"127.0.0.1:{port}",
             "--admin-endpoint", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )
        assert process.returncode == 1
        assert f"127.0.0.1:{port}" in process.stderr
        assert "OTLP gRPC" in process.stderr

        config = dataclasses.replace(receiver_config(tmp_path), admin=AdminConfig(endpoint=f"127.0.0.1:{port}"))
        app = ReceiverApp(config)
        with pytest.raises(AddressBindError, match=f"admin HTTP on 127.0.0.1:{port}"):
            app.start()
        assert app.state == "stopped"
