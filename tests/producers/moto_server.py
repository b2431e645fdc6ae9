"""A moto server on a free 127.0.0.1 port, for SQS tests over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MotoServer:
    """``moto_server`` in a child process; ``endpoint`` is its URL. Start waits until it listens."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._output: list[str] = []

    def start(self, timeout: float = 30.0) -> "MotoServer":
        executable = Path(sys.executable).with_name("moto_server")
        self._process = subprocess.Popen(
            [str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("moto_server did not start:\n" + "".join(self._output))
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            if len(self._output) < 200:
                self._output.append(line)
            if "Running on" in line:
                self._ready.set()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
