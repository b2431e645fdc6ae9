"""Helpers to run the project's commands as real processes in tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Polls ``predicate`` until it returns a truthy value, which is returned; fails on timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as error:  # the condition may raise until the thing is up
            last_error = error
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET, without raising for 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def http_json(url: str) -> tuple[int, dict]:
    status, body = http_get(url)
    return status, json.loads(body)


class Collector:
    """A ``queue-collector`` process on free ports of 127.0.0.1."""

    def __init__(self, tmp_path: Path, *extra_args: str, env: dict | None = None) -> None:
        self.otlp_port = free_port()
        self.admin_port = free_port()
        self.traces_file = tmp_path / "traces.jsonl"
        self.logs_file = tmp_path / "logs.jsonl"
        self.output = tmp_path / "collector.out"
        args = [
            str(BIN / "queue-collector"),
            "--otlp-endpoint", f"127.0.0.1:{self.otlp_port}",
            "--admin-endpoint", f"127.0.0.1:{self.admin_port}",
            "--logs-file", str(self.logs_file),
            *extra_args,
        ]
        if "--traces-endpoint" not in extra_args:
            args += ["--traces-file", str(self.traces_file)]
        self._out = open(self.output, "w")
        self.process = subprocess.Popen(
            args, stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            wait_until(self._ready, 30, "queue-collector /readyz")
        except AssertionError:
            self.stop()
            raise AssertionError(f"queue-collector did not become ready:\n{self.output.read_text()}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"queue-collector exited:\n{self.output.read_text()}")
        return http_get(self.url("/readyz"), timeout=1)[0] == 200

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode


def run_demo(tmp_path: Path, otlp_endpoint: str, *, duration: float, rate: float,
             service: str, extra_env: dict | None = None) -> dict:
    """Runs ``queue-telemetry demo`` against ``otlp_endpoint`` and returns its ground truth."""
    summary_file = tmp_path / "summary.json"
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_SERVICE_NAME": service,
        **(extra_env or {}),
    }
    completed = subprocess.run(
        [str(BIN / "queue-telemetry"), "demo", "--duration", str(duration), "--rate", str(rate),
         "--summary-file", str(summary_file)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(summary_file.read_text())
