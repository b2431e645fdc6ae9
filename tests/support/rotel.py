"""The rotel collector (PyPI package ``rotel``) as a third-party OTLP peer in tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import rotel

from tests.support.processes import free_port, wait_until

AGENT = Path(rotel.__file__).parent / "rotel-agent"


class RotelForwarder:
    """rotel-agent receiving OTLP/gRPC on a free port and forwarding it to ``target``."""

    def __init__(self, tmp_path: Path, target: str) -> None:
        self.port = free_port()
        self.log = tmp_path / "rotel.log"
        self._log = open(self.log, "w")
        self.process = subprocess.Popen(
            [str(AGENT), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{self.port}",
             "--otlp-http-endpoint", f"127.0.0.1:{free_port()}",
             "--exporter", "otlp", "--otlp-exporter-endpoint", target],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_until(self._listening, 30, "rotel-agent to listen")

    def _listening(self) -> bool:
        import socket

        if self.process.poll() is not None:
            raise AssertionError(f"rotel-agent exited:\n{self.log.read_text()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
